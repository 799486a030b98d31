package harden

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func control(t *testing.T, id string) api.ControlInfo {
	t.Helper()
	c, ok := api.LookupControl(id)
	if !ok {
		t.Fatalf("no control %s", id)
	}
	return c
}

// fakeRun answers commands from a table by their command line.
func fakeRun(answers map[string]string) func(context.Context, string, ...string) (string, error) {
	return func(_ context.Context, name string, args ...string) (string, error) {
		line := strings.Join(append([]string{name}, args...), " ")
		for prefix, out := range answers {
			if strings.HasPrefix(line, prefix) {
				return out, nil
			}
		}
		return "", fmt.Errorf("%s: not expected", line)
	}
}

func read(t *testing.T, root, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// login.defs: the last line that sets a key wins; the apply rewrites
// every such line and adds one where none is.
func TestConfControl(t *testing.T) {
	root := writeTree(t, map[string]string{
		"/etc/login.defs": "# PASS_MAX_DAYS 10\nPASS_MAX_DAYS\t99999\nUMASK 022\nPASS_MAX_DAYS 400\n",
	})
	h := newHost(context.Background(), root, nil)
	c := control(t, "accounts.pass_max_days")
	r := confResult(h, c, "365")
	if r.Status != api.ControlFail || r.Actual != "400" || r.Source != "/etc/login.defs:4" {
		t.Fatalf("the last line wins: %+v", r)
	}
	if changed, err := setConf(h, c, "365"); err != nil || !changed {
		t.Fatalf("set: %v %v", changed, err)
	}
	if got := read(t, root, "/etc/login.defs"); got != "# PASS_MAX_DAYS 10\nPASS_MAX_DAYS 365\nUMASK 022\nPASS_MAX_DAYS 365\n" {
		t.Errorf("every line that sets it rewritten, comments kept:\n%s", got)
	}
	if r := confResult(h, c, "365"); r.Status != api.ControlPass {
		t.Errorf("after the apply: %+v", r)
	}
	if changed, _ := setConf(h, c, "365"); changed {
		t.Error("a second apply changed something")
	}
	w := control(t, "accounts.pass_warn_age")
	if r := confResult(h, w, "7"); r.Status != api.ControlFail || !strings.Contains(r.Reason, "not set") {
		t.Errorf("unset: %+v", r)
	}
	if _, err := setConf(h, w, "7"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, root, "/etc/login.defs"); !strings.HasSuffix(got, "# steward_hardening_profile: accounts.pass_warn_age\nPASS_WARN_AGE 7\n") {
		t.Errorf("an unset key is added:\n%s", got)
	}
}

// "key = value" files read in order, a later file overriding; limits.conf
// keys of three words.
func TestConfControl_filesInOrder(t *testing.T) {
	root := writeTree(t, map[string]string{
		"/etc/security/pwquality.conf":             "# minlen = 9\nminlen = 8\n",
		"/etc/security/pwquality.conf.d/50-x.conf": "minlen=6\n",
		"/etc/security/limits.conf":                "#*  soft core 0\n@staff hard core 10\n",
	})
	h := newHost(context.Background(), root, nil)
	c := control(t, "pam.pwquality_minlen")
	if r := confResult(h, c, "14"); r.Actual != "6" || r.Source != "/etc/security/pwquality.conf.d/50-x.conf:1" {
		t.Fatalf("the later file wins: %+v", r)
	}
	if _, err := setConf(h, c, "14"); err != nil {
		t.Fatal(err)
	}
	if a, b := read(t, root, "/etc/security/pwquality.conf"), read(t, root, "/etc/security/pwquality.conf.d/50-x.conf"); a != "# minlen = 9\nminlen=14\n" || b != "minlen=14\n" {
		t.Errorf("both files set it:\n%s\n%s", a, b)
	}
	l := control(t, "coredump.limits")
	if r := confResult(h, l, "0"); r.Status != api.ControlFail {
		t.Errorf("a group's line is not everyone's: %+v", r)
	}
	if _, err := setConf(h, l, "0"); err != nil {
		t.Fatal(err)
	}
	if r := confResult(h, l, "0"); r.Status != api.ControlPass || r.Actual != "0" {
		t.Errorf("after the apply: %+v\n%s", r, read(t, root, "/etc/security/limits.conf"))
	}
	cd := control(t, "coredump.storage")
	if r := confResult(h, cd, "none"); r.Status != api.ControlNotApplicable || !strings.Contains(r.Reason, "systemd-coredump is not installed") {
		t.Errorf("without systemd-coredump: %+v", r)
	}
}

func TestBannerControl(t *testing.T) {
	root := writeTree(t, map[string]string{"/etc/issue": "Debian GNU/Linux 12 \\n \\l\n\n"})
	h := newHost(context.Background(), root, nil)
	c := control(t, "banner.issue")
	if r := bannerResult(h, c, api.DefaultBanner); r.Status != api.ControlFail || !strings.Contains(r.Actual, "Debian") {
		t.Fatalf("Debian's banner: %+v", r)
	}
	if changed, err := writeBanner(h, c, api.DefaultBanner); err != nil || !changed {
		t.Fatal(changed, err)
	}
	if r := bannerResult(h, c, api.DefaultBanner); r.Status != api.ControlPass {
		t.Errorf("after: %+v", r)
	}
	tm := control(t, "accounts.shell_timeout")
	if _, err := writeBanner(h, tm, "600"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, root, tm.Path); !strings.Contains(got, "\nTMOUT=600\nreadonly TMOUT\nexport TMOUT") {
		t.Errorf("the timeout's script:\n%s", got)
	}
	if r := bannerResult(h, tm, "900"); r.Status != api.ControlFail || !strings.Contains(r.Actual, "TMOUT=600; readonly TMOUT") {
		t.Errorf("another timeout: %+v", r)
	}
	if err := c.Check(`\s \r`); err == nil {
		t.Error("escapes that print the system's name are refused")
	}
}

func TestHomesControl(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	root := writeTree(t, map[string]string{
		"/etc/passwd": "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n" +
			"svc:x:1001:1001::/home/svc:/usr/sbin/nologin\nbob:x:1002:1002::/home/bob:/bin/sh\n",
		"/etc/login.defs": "UID_MIN 1000\n",
	})
	for _, d := range []string{"/home/alice", "/home/svc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := newHost(context.Background(), root, nil)
	c := control(t, "homes.permissions")
	r := homesResult(h, c, "")
	if r.Status != api.ControlFail || !strings.Contains(r.Actual, "/home/alice 0755") || !strings.Contains(r.Actual, "/home/bob missing") || strings.Contains(r.Actual, "svc") {
		t.Fatalf("alice's home is root's and 0755, bob has none, svc does not log in: %+v", r)
	}
	if _, err := fixHomes(h, c, ""); err == nil || !strings.Contains(err.Error(), "bob has no home directory") {
		t.Fatalf("a missing home is not made up: %v", err)
	}
	st, _ := statPath(filepath.Join(root, "/home/alice"))
	if st.uid != 1000 || st.mode != 0o750 {
		t.Errorf("alice's home after the apply: %+v", st)
	}
}

func TestPAMControl(t *testing.T) {
	root := writeTree(t, map[string]string{
		"/etc/pam.d/common-auth":     "auth requisite pam_faillock.so preauth\nauth [success=1 default=ignore] pam_unix.so nullok\n# auth [default=die] pam_faillock.so authfail\n",
		"/etc/pam.d/common-account":  "account required pam_faillock.so\n",
		"/etc/pam.d/common-password": "password requisite pam_pwquality.so retry=3\n",
	})
	h := newHost(context.Background(), root, nil)
	r := pamResult(h, control(t, "pam.faillock"), "enabled")
	if r.Status != api.ControlFail || r.Actual != "no pam_faillock.so authfail in /etc/pam.d/common-auth" {
		t.Errorf("authfail only in a comment: %+v", r)
	}
	if r := pamResult(h, control(t, "pam.pwhistory"), "enabled"); r.Status != api.ControlFail {
		t.Errorf("no pwhistory: %+v", r)
	}
	pq := control(t, "pam.pwquality")
	if r := pamResult(h, pq, "enabled"); r.Status != api.ControlFail || !strings.Contains(r.Reason, "libpam-pwquality is not installed: install it") {
		t.Errorf("libpam-pwquality not installed: %+v", r)
	}
	if _, err := enablePAM(h, pq, "enabled"); err == nil || !strings.Contains(err.Error(), "does not install packages") {
		t.Errorf("the apply says what to install: %v", err)
	}
	if !pamChanges(h, api.HardeningProfile{Name: "p", Level: "baseline"}) {
		t.Error("a profile that enables faillock changes the PAM stacks: it needs confirm-or-revert")
	}
}

func TestModulesServicesPackages(t *testing.T) {
	root := writeTree(t, map[string]string{"/proc/modules": "sctp 409600 2 - Live 0x0\n"})
	var units []string
	for _, c := range api.Catalogue {
		units = append(units, c.Units...)
	}
	blocks := make([]string, len(units))
	for i, u := range units {
		blocks[i] = "Id=" + u + "\nLoadState=not-found\nActiveState=inactive\nUnitFileState="
		if u == "cups.service" {
			blocks[i] = "Id=cups.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled"
		}
		if u == "rpcbind.service" {
			blocks[i] = "Id=rpcbind.service\nLoadState=masked\nActiveState=inactive\nUnitFileState=masked"
		}
	}
	h := newHost(context.Background(), root, fakeRun(map[string]string{
		"modprobe --showconfig": "install cramfs /bin/false\nblacklist cramfs\ninstall dccp /bin/true\nblacklist sctp\ninstall sctp /bin/false\n",
		"systemctl show":        strings.Join(blocks, "\n\n") + "\n",
		"dpkg-query":            "telnet\tii \nrsh-client\trc \nbash\tii \n",
	}))
	for id, want := range map[string]string{"modules.cramfs": "pass", "modules.dccp": "fail", "modules.sctp": "fail", "modules.udf": "fail",
		"services.cups": "fail", "services.rpcbind": "pass", "services.avahi": "pass",
		"packages.telnet": "fail", "packages.rsh_client": "pass"} {
		c := control(t, id)
		if r := families[c.Family].check(h, c, c.Default); r.Status != want {
			t.Errorf("%s: %+v, want %s", id, r, want)
		}
	}
	h.container = "systemd-nspawn"
	if r := moduleResult(h, control(t, "modules.udf"), ""); r.Status != api.ControlNotApplicable || !strings.Contains(r.Reason, "a container (systemd-nspawn)") {
		t.Errorf("in a container: %+v", r)
	}
	if d := renderModprobe([]api.HardeningProfile{{Name: "p", Level: "baseline"}}); !strings.Contains(d, "install usb-storage /bin/false\nblacklist usb-storage\n") || strings.Contains(d, "squashfs") {
		t.Errorf("the baseline's modules, not the strict ones:\n%s", d)
	}
}

// A sysctl.d file read after Steward's sets another value at boot: drift
// that names the file; a file of the same name in /etc hides /usr/lib's.
func TestSysctlControl_laterFileWinsAtBoot(t *testing.T) {
	root := writeTree(t, map[string]string{
		"/proc/sys/net/ipv4/tcp_syncookies":      "1\n",
		SysctlFile:                               "net.ipv4.tcp_syncookies = 1\n",
		"/usr/lib/sysctl.d/99-vendor.conf":       "net.ipv4.tcp_syncookies = 0\n",
		"/etc/sysctl.d/99-vendor.conf":           "# masked by the admin\n",
		"/usr/lib/sysctl.d/70-other.conf":        "net/ipv4/tcp_syncookies=1\n",
		"/etc/sysctl.d/80-local.conf":            "-net.ipv4.tcp_syncookies = 0\n",
		"/usr/lib/sysctl.d/10-early-vendor.conf": "net.ipv4.tcp_syncookies = 0\n",
	})
	c := control(t, "sysctl.tcp_syncookies")
	r := sysctlResult(root, c, "1", persisted(root))
	if r.Status != api.ControlFail || r.Reason != "/etc/sysctl.d/80-local.conf sets 0 at boot, after Steward's "+SysctlFile {
		t.Fatalf("80-local.conf wins at boot: %+v", r)
	}
	if err := os.Remove(filepath.Join(root, "/etc/sysctl.d/80-local.conf")); err != nil {
		t.Fatal(err)
	}
	if r := sysctlResult(root, c, "1", persisted(root)); r.Status != api.ControlPass {
		t.Errorf("/etc's 99-vendor.conf hides /usr/lib's, 70-other.conf agrees: %+v", r)
	}
}

// sudo: global Defaults only, the last one read winning; Steward's file
// sorts last; a later file that overrides it is named.
func TestSudoControl(t *testing.T) {
	root := writeTree(t, map[string]string{
		"/usr/bin/sudo":            "",
		"/etc/sudoers":             "Defaults\tenv_reset, !use_pty\nDefaults:alice !use_pty\nDefaults logfile = \"/var/log/x.log\"\n",
		"/etc/sudoers.d/README.md": "Defaults use_pty\n",
		"/etc/sudoers.d/zzz-late":  "Defaults timestamp_timeout=30\n",
	})
	h := newHost(context.Background(), root, nil)
	for id, want := range map[string]string{"sudo.use_pty": "fail: no /etc/sudoers", "sudo.logfile": "fail: /var/log/x.log /etc/sudoers",
		"sudo.timestamp_timeout": "fail: 30 /etc/sudoers.d/zzz-late /etc/sudoers.d/zzz-late sets timestamp_timeout, read after"} {
		c := control(t, id)
		r := sudoResult(h, c, c.Default)
		if got := r.Status + ": " + r.Actual + " " + r.Source + " " + r.Reason; !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q…", id, got, want)
		}
	}
	d := renderSudoers([]api.HardeningProfile{{Name: "p", Level: "baseline"}})
	if !strings.Contains(d, "Defaults use_pty\nDefaults logfile=\"/var/log/sudo.log\"\nDefaults timestamp_timeout=15\n") {
		t.Errorf("the drop-in:\n%s", d)
	}
	if filepath.Base(SudoersFile) < "zz" || strings.Contains(filepath.Base(SudoersFile), ".") {
		t.Error("Steward's sudoers file must sort last and have no dot (sudo skips those)")
	}
}
