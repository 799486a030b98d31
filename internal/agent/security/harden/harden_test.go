package harden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// Where sshd first reads a keyword: above the Include, in the drop-ins in
// name order, then below; Match blocks do not count.
func TestFirstSettings(t *testing.T) {
	root := writeTree(t, map[string]string{
		"/etc/ssh/sshd_config": "# Debian's\nLogLevel INFO\nInclude /etc/ssh/sshd_config.d/*.conf\nX11Forwarding yes\n" +
			"PermitRootLogin yes\nMatch User backup\n  PasswordAuthentication yes\n",
		"/etc/ssh/sshd_config.d/00-aaa.conf":               "PermitRootLogin=yes\n",
		"/etc/ssh/sshd_config.d/00-steward-hardening.conf": "PermitRootLogin no\nX11Forwarding no\nMaxStartups 1\n",
		"/etc/ssh/sshd_config.d/50-fleet.conf":             "MaxStartups 100:30:200\n",
		"/etc/ssh/sshd_config.d/zz-steward-hardening.conf": "MaxStartups 10:30:60\n",
	})
	got := firstSettings(root)
	for k, want := range map[string]sshdSetting{
		"loglevel":        {value: "INFO", file: "/etc/ssh/sshd_config", line: 2},
		"permitrootlogin": {value: "yes", file: "/etc/ssh/sshd_config.d/00-aaa.conf", line: 1},
		"x11forwarding":   {value: "no", file: DropIn, line: 2},
		"maxstartups":     {value: "10:30:60", file: DropInLast, line: 1}, // the last one wins
	} {
		if got[k] != want {
			t.Errorf("%s: %+v, want %+v", k, got[k], want)
		}
	}
	if _, ok := got["passwordauthentication"]; ok {
		t.Error("a Match block's setting counted")
	}
	c, _ := api.LookupControl("sshd.permit_root_login")
	r := sshdResult(c, "no", map[string]string{"permitrootlogin": "yes"}, got)
	if r.Status != api.ControlFail || !strings.Contains(r.Reason, "00-aaa.conf:1") || r.Source != "/etc/ssh/sshd_config.d/00-aaa.conf:1" {
		t.Errorf("shadowed control: %+v; want a failure naming 00-aaa.conf:1", r)
	}
	r = sshdResult(c, "prohibit-password", map[string]string{"permitrootlogin": "without-password"}, got)
	if r.Status != api.ControlPass {
		t.Errorf("without-password is prohibit-password: %+v", r)
	}
}

func TestRenderDropIn(t *testing.T) {
	off := false
	p := api.HardeningProfile{Name: "base", Level: "baseline", Controls: map[string]api.ControlSetting{
		"sshd.permit_root_login": {Value: "prohibit-password", Reason: "we log in as root with keys"},
		"sshd.banner":            {Enabled: &off, Reason: "no banner here"},
	}}
	d, last := renderDropIns([]api.HardeningProfile{p})
	if !strings.HasSuffix(last, "\nMaxStartups 10:30:60\n") || strings.Contains(d, "MaxStartups") {
		t.Errorf("MaxStartups, whose last value wins, belongs in the last drop-in:\n%s---\n%s", d, last)
	}
	for _, want := range []string{"PermitRootLogin prohibit-password\n", "MaxAuthTries 3\n", "DisableForwarding yes\n"} {
		if !strings.Contains(d, want) {
			t.Errorf("drop-in lacks %q:\n%s", want, d)
		}
	}
	for _, not := range []string{"Banner", "AllowGroups"} {
		if strings.Contains(d, not) {
			t.Errorf("drop-in has %s:\n%s", not, d)
		}
	}
	p.Level = "strict"
	p.Controls["sshd.allow_groups"] = api.ControlSetting{Value: "ops admins", Reason: "only staff"}
	if d, _ := renderDropIns([]api.HardeningProfile{p}); !strings.Contains(d, "AllowGroups ops admins\n") {
		t.Errorf("strict with allow_groups:\n%s", d)
	}
}

func TestParseSSHDT(t *testing.T) {
	m := parseSSHDT(("port 22\npermitrootlogin without-password\nhostkey /etc/ssh/a\nhostkey /etc/ssh/b\n"))
	if m["permitrootlogin"] != "without-password" || m["hostkey"] != "/etc/ssh/a" {
		t.Errorf("%v", m)
	}
}

// A file a user can read that only root should: the control fails, and
// applying it takes the extra bits away and nothing else.
func TestFileControl(t *testing.T) {
	root := writeTree(t, map[string]string{"/etc/shadow": "root:*:1::::::\n"})
	f := filepath.Join(root, "etc/shadow")
	if err := os.Chmod(f, 0o604); err != nil {
		t.Fatal(err)
	}
	c := api.ControlInfo{ID: "files.shadow", Family: "files", Path: "/etc/shadow", Mode: 0o640, Owner: "root", Group: "root"}
	if r := fileResult(root, c); r.Status != api.ControlFail || !strings.Contains(r.Actual, "0604") {
		t.Fatalf("world-readable: %+v", r)
	}
	if os.Geteuid() != 0 {
		t.Skip("chown needs root (CI runs as root)")
	}
	if changed, err := fixFiles(root, c); err != nil || !changed {
		t.Fatalf("fix: %v %v", changed, err)
	}
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o after the fix, want 0600 (0604 without the bits 0640 does not allow)", fi.Mode().Perm())
	}
	if r := fileResult(root, c); r.Status != api.ControlPass {
		t.Errorf("after the fix: %+v", r)
	}
	c.Path = "/etc/nothing"
	if r := fileResult(root, c); r.Status != api.ControlNotApplicable {
		t.Errorf("missing file: %+v", r)
	}
}

func TestProfileValidate(t *testing.T) {
	p := api.HardeningProfile{Name: "base", Level: "baseline"}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    api.HardeningProfile
		want string
	}{
		{api.HardeningProfile{Name: "b", Level: "max"}, "level"},
		{api.HardeningProfile{Name: "b", Level: "baseline", Controls: map[string]api.ControlSetting{"sshd.nope": {Reason: "x"}}}, "no such control"},
		{api.HardeningProfile{Name: "b", Level: "baseline", Controls: map[string]api.ControlSetting{"sshd.max_auth_tries": {Value: "4"}}}, "reason"},
		{api.HardeningProfile{Name: "b", Level: "baseline", Controls: map[string]api.ControlSetting{"sshd.max_auth_tries": {Value: "40", Reason: "x"}}}, "from 1 to 10"},
		{api.HardeningProfile{Name: "b", Level: "baseline", Controls: map[string]api.ControlSetting{"sshd.allow_groups": {Value: "a\nMatch all", Reason: "x"}}}, "one line"},
	} {
		if err := c.p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want %q", c.p, err, c.want)
		}
	}
}

// not_applicable and off never count as passed.
func TestComplianceTally(t *testing.T) {
	c := api.Compliance{Controls: []api.ComplianceControl{
		{ControlResult: api.ControlResult{Status: api.ControlPass}}, {ControlResult: api.ControlResult{Status: api.ControlPass}},
		{ControlResult: api.ControlResult{Status: api.ControlFail}}, {ControlResult: api.ControlResult{Status: api.ControlError}},
		{ControlResult: api.ControlResult{Status: api.ControlNotApplicable}}, {ControlResult: api.ControlResult{Status: api.ControlOff}},
	}}
	c.Tally()
	if c.Passed != 2 || c.Failed != 1 || c.Errors != 1 || c.NotApplicable != 1 || c.Off != 1 || c.Score != 50 {
		t.Errorf("%+v: want 2 passed of 4 checked (50%%), one not applicable and one off apart", c)
	}
}

// The runtime value and the persisted one are each compared on their own.
func TestSysctlControl(t *testing.T) {
	root := writeTree(t, map[string]string{"/proc/sys/net/ipv4/tcp_syncookies": "0\n"})
	c, _ := api.LookupControl("sysctl.tcp_syncookies")
	p := api.HardeningProfile{Name: "base", Level: "baseline"}
	if r := sysctlResult(root, c, "1", persisted(root)); r.Status != api.ControlFail || r.Actual != "0" {
		t.Fatalf("runtime 0: %+v", r)
	}
	if changed, err := setSysctl(root, c.Sysctl, "1"); err != nil || !changed {
		t.Fatalf("set: %v %v", changed, err)
	}
	if r := sysctlResult(root, c, "1", persisted(root)); r.Status != api.ControlFail || !strings.Contains(r.Reason, "not persisted") {
		t.Fatalf("set but not persisted: %+v", r)
	}
	file := filepath.Join(root, SysctlFile)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	d := renderSysctl(root, []api.HardeningProfile{p})
	if !strings.Contains(d, "net.ipv4.tcp_syncookies = 1\n") || strings.Contains(d, "kernel.randomize_va_space") {
		t.Errorf("the file has the parameters that exist here, and only those:\n%s", d)
	}
	if err := os.WriteFile(file, []byte(d), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sysctlResult(root, c, "1", persisted(root)); r.Status != api.ControlPass {
		t.Fatalf("set and persisted: %+v", r)
	}
	if err := os.WriteFile(sysctlPath(root, c.Sysctl), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sysctlResult(root, c, "1", persisted(root)); r.Status != api.ControlFail || !strings.Contains(r.Reason, "runtime value differs") {
		t.Fatalf("sysctl -w by hand: %+v", r)
	}
	k, _ := api.LookupControl("sysctl.randomize_va_space")
	if r := sysctlResult(root, k, "2", persisted(root)); r.Status != api.ControlNotApplicable {
		t.Errorf("a parameter this kernel lacks: %+v", r)
	}
}
