package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// TestAccHardening_handEdits: on a fleet host with the baseline applied,
// a person changes by hand what the families beyond sshd manage —
// login.defs, the PAM stack (faillock taken out with pam-auth-update), a
// home directory's mode, /etc/issue, sudo's timeout, a cron directory's mode, core dumps
// allowed in a limits.d file, a denied package installed, a denied
// service installed and running, a kernel parameter set with sysctl -w
// and Steward's sysctl.d file deleted. Each shows in the plan naming its
// control, one plain apply converges, and the plan after it is empty. A
// second profile that agrees is applied beside the first and removed
// again: the first's sshd settings stay.
func TestAccHardening_handEdits(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	undo := "dpkg -P telnet >/dev/null 2>&1; rm -rf /tmp/telnet-deb /tmp/telnet.deb /etc/security/limits.d/99-dev.conf; " +
		"systemctl unmask rsync.service >/dev/null 2>&1; systemctl stop rsync.service >/dev/null 2>&1; " +
		"rm -f /usr/lib/systemd/system/rsync.service; systemctl daemon-reload"
	t.Cleanup(func() {
		_, _ = onHost(t, f, h, undo)
		cleanHost(t, f, h)
	})
	run := func(cmd string) { t.Helper(); mustOnHost(t, f, h, cmd) }
	run(undo)
	base := hardeningConfig(f, h, "baseline", "")
	status := func(id string) tfjsonpath.Path { return tfjsonpath.New("status").AtMapKey(id) }
	edited := map[string]*regexp.Regexp{
		"accounts.pass_max_days": regexp.MustCompile(`^fail: 99999 \(/etc/login\.defs:\d+\)`),
		"pam.faillock":           regexp.MustCompile(`^fail: no pam_faillock\.so preauth in /etc/pam\.d/common-auth`),
		"homes.permissions":      regexp.MustCompile(`^fail: .*/home/deploy 0755 deploy`),
		"banner.issue":           regexp.MustCompile(`^fail: Debian GNU/Linux`),
		"files.cron_d":           regexp.MustCompile(`^fail: /etc/cron\.d 0755 root:root`),
		"coredump.limits":        regexp.MustCompile(`^fail: unlimited \(/etc/security/limits\.d/99-dev\.conf:1\)`),
		"packages.telnet":        regexp.MustCompile(`^fail: telnet installed`),
		"services.rsync":         regexp.MustCompile(`^fail: rsync\.service enabled, active`),
		"sudo.timestamp_timeout": regexp.MustCompile(`^fail: 60 \(/etc/sudoers\.d/zz-steward-hardening\)`),
	}
	var drift []plancheck.PlanCheck
	var passing []statecheck.StateCheck
	for id, want := range edited {
		drift = append(drift, expectStatusBefore(id, want),
			plancheck.ExpectKnownValue(hardeningAddr, status(id), knownvalue.StringExact("pass")))
		passing = append(passing, statecheck.ExpectKnownValue(hardeningAddr, status(id), knownvalue.StringExact("pass")))
	}
	second := base + `
resource "steward_hardening_profile" "ops" {
  host  = steward_host.h.host_connection
  name  = "ops"
  controls = {
    "sshd.permit_root_login" = { value = "prohibit-password", reason = "the test fleet's helpers log in as root with a key" }
  }
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:            base,
				ConfigStateChecks: passing,
				Check: resource.ComposeTestCheckFunc(
					hostCheck(t, f, h, "grep -c pam_faillock.so /etc/pam.d/common-auth", "2"),
					hostCheck(t, f, h, "stat -c %a /home/deploy", "750"),
				),
			},
			{
				PreConfig: func() {
					run("sed -i 's/^PASS_MAX_DAYS.*/PASS_MAX_DAYS 99999/' /etc/login.defs")
					run("DEBIAN_FRONTEND=noninteractive pam-auth-update --disable steward-faillock steward-faillock-notify")
					run("chmod 0755 /home/deploy /etc/cron.d")
					run(`printf 'Debian GNU/Linux 12 \\n \\l\n\n' > /etc/issue`)
					run("echo '* hard core unlimited' > /etc/security/limits.d/99-dev.conf")
					run("sed -i 's/timestamp_timeout=15/timestamp_timeout=60/' /etc/sudoers.d/zz-steward-hardening")
					// A package and a service of the deny lists, real to dpkg and systemd.
					run("mkdir -p /tmp/telnet-deb/DEBIAN && printf 'Package: telnet\\nVersion: 99\\nArchitecture: all\\n" +
						"Maintainer: Steward tests <tests@example.invalid>\\nDescription: stand-in for the test\\n' > /tmp/telnet-deb/DEBIAN/control && " +
						"dpkg-deb -b /tmp/telnet-deb /tmp/telnet.deb >/dev/null && dpkg -i /tmp/telnet.deb >/dev/null")
					run("printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' > /usr/lib/systemd/system/rsync.service && " +
						"systemctl daemon-reload && systemctl enable --now rsync.service 2>/dev/null")
				},
				Config:            base,
				ConfigPlanChecks:  resource.ConfigPlanChecks{PreApply: drift},
				ConfigStateChecks: passing,
				Check: resource.ComposeTestCheckFunc(
					hostCheck(t, f, h, "grep ^PASS_MAX_DAYS /etc/login.defs", "PASS_MAX_DAYS 365"),
					hostCheck(t, f, h, "grep -c pam_faillock.so /etc/pam.d/common-auth", "2"),
					hostCheck(t, f, h, "dpkg -s telnet >/dev/null 2>&1 && echo installed || echo purged", "purged"),
					hostCheck(t, f, h, "systemctl is-enabled rsync.service; systemctl is-active rsync.service || true", "masked\ninactive"),
					hostCheck(t, f, h, "cat /etc/security/limits.d/99-dev.conf", "* hard core 0"),
				),
			},
			{Config: base, PlanOnly: true},
			{
				// A runtime kernel parameter changed with sysctl -w, the
				// file untouched: drift, and one apply sets it again.
				PreConfig: func() { run("sysctl -qw net.ipv4.tcp_syncookies=0") },
				Config:    base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					expectStatusBefore("sysctl.tcp_syncookies",
						regexp.MustCompile(`^fail: 0 \(/proc/sys, /etc/sysctl\.d/60-steward-hardening\.conf\); the runtime value differs`)),
					plancheck.ExpectKnownValue(hardeningAddr, status("sysctl.tcp_syncookies"), knownvalue.StringExact("pass")),
				}},
				Check: hostCheck(t, f, h, "sysctl -n net.ipv4.tcp_syncookies", "1"),
			},
			{
				// The file deleted, the runtime values untouched: the next
				// boot would lose them, which is drift too.
				PreConfig: func() { run("rm /etc/sysctl.d/60-steward-hardening.conf") },
				Config:    base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					expectStatusBefore("sysctl.log_martians",
						regexp.MustCompile(`^fail: 1 \(/proc/sys, /etc/sysctl\.d/60-steward-hardening\.conf\); not persisted`)),
					plancheck.ExpectKnownValue(hardeningAddr, status("sysctl.log_martians"), knownvalue.StringExact("pass")),
				}},
				Check: hostCheck(t, f, h, "grep -c '^net\\.' /etc/sysctl.d/60-steward-hardening.conf", "23"),
			},
			{Config: base, PlanOnly: true},
			{
				// A second profile that agrees, then removed: the first's
				// settings stay in the drop-in they share.
				Config: second,
				Check:  hostCheck(t, f, h, "head -1 /etc/ssh/sshd_config.d/00-steward-hardening.conf", "# Written by steward-agent for steward_hardening_profile base, ops; edits are drift."),
			},
			{
				Config: base,
				Check: resource.ComposeTestCheckFunc(
					hostCheck(t, f, h, "sshd -T | grep -E '^(maxauthtries|compression) ' | sort | tr '\\n' ' '", "compression no maxauthtries 3"),
					hostCheck(t, f, h, "head -1 /etc/ssh/sshd_config.d/00-steward-hardening.conf", "# Written by steward-agent for steward_hardening_profile base; edits are drift."),
				),
			},
			{Config: base, PlanOnly: true},
		},
	})
}
