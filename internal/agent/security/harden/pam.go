package harden

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// PAM modules are put into Debian's PAM stacks the Debian way: a profile
// in /usr/share/pam-configs, enabled with pam-auth-update, which writes
// /etc/pam.d/common-*. A change to those files can cut every login, so
// it is applied under confirm-or-revert (pamFiles are saved first).

const pamConfigs = "/usr/share/pam-configs"

// pamProfiles are the pam-auth-update profiles that enable a module:
// Debian's own where the package ships one (pwquality), Steward's
// otherwise, written before they are enabled. The faillock profiles are
// the CIS Debian 12 benchmark's: preauth before pam_unix and authfail
// after it in common-auth, and the account check.
var pamProfiles = map[string]map[string]string{
	"pam_pwquality.so": {"pwquality": ""},
	"pam_pwhistory.so": {"steward-pwhistory": `Name: Steward: refuse reused passwords (pam_pwhistory, /etc/security/pwhistory.conf)
Default: yes
Priority: 1000
Password-Type: Primary
Password:
	requisite	pam_pwhistory.so use_authtok
Password-Initial:
	requisite	pam_pwhistory.so
`},
	"pam_faillock.so": {
		"steward-faillock": `Name: Steward: deny logins to an account locked by failed attempts (pam_faillock, /etc/security/faillock.conf)
Default: yes
Priority: 0
Auth-Type: Primary
Auth:
	[default=die]	pam_faillock.so authfail
`,
		"steward-faillock-notify": `Name: Steward: count failed logins, reset on success (pam_faillock)
Default: yes
Priority: 1024
Auth-Type: Primary
Auth:
	requisite	pam_faillock.so preauth
Account-Type: Primary
Account:
	required	pam_faillock.so
`},
}

// pamWants is what each stack file must hold for a module: every word
// of one entry on one line with the module.
var pamWants = map[string]map[string][]string{
	"pam_faillock.so": {"/etc/pam.d/common-auth": {"preauth", "authfail"}, "/etc/pam.d/common-account": {""}},
}

// pamFiles are what pam-auth-update changes, saved before a PAM change.
func pamFiles(root string) []string {
	var out []string
	for _, s := range []string{"auth", "account", "password", "session", "session-noninteractive"} {
		out = append(out, filepath.Join(root, "/etc/pam.d/common-"+s), filepath.Join(root, "/var/lib/pam", s))
	}
	out = append(out, filepath.Join(root, "/var/lib/pam/seen"))
	for _, profiles := range pamProfiles {
		for name, text := range profiles {
			if text != "" {
				out = append(out, filepath.Join(root, pamConfigs, name))
			}
		}
	}
	return out
}

// pamLines are the active lines of a PAM stack file that use module.
func pamLines(h *host, file, module string) ([]string, error) {
	b, err := os.ReadFile(h.path(file))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		for _, w := range strings.Fields(line) {
			if w == module || strings.HasSuffix(w, "/"+module) {
				out = append(out, line)
				break
			}
		}
	}
	return out, nil
}

func pamResult(h *host, c api.ControlInfo, _ string) api.ControlResult {
	r := api.ControlResult{Expected: c.Module + " in " + c.Path, Source: c.Path}
	if c.Needs != "" && !h.exists(c.Needs) {
		// CIS wants the module's package installed: a missing one fails.
		r.Status, r.Actual, r.Reason = api.ControlFail, "no "+c.Needs, c.NeedsWhy+": install it, or switch the control off with a reason"
		return r
	}
	wants := pamWants[c.Module]
	r.Status = api.ControlPass
	var got []string
	for _, file := range strings.Fields(c.Path) {
		lines, err := pamLines(h, file, c.Module)
		if err != nil {
			r.Status, r.Reason = api.ControlError, err.Error()
			return r
		}
		need := wants[file]
		if need == nil {
			need = []string{""}
		}
		for _, word := range need {
			found := false
			for _, l := range lines {
				if word == "" || strings.Contains(" "+l+" ", " "+word+" ") {
					found = true
				}
			}
			if !found {
				r.Status = api.ControlFail
				got = append(got, strings.TrimSpace(fmt.Sprintf("no %s %s in %s", c.Module, word, file)))
			}
		}
	}
	r.Actual = "enabled"
	if len(got) > 0 {
		r.Actual = strings.Join(got, "; ")
	}
	return r
}

// enablePAM writes Steward's profiles for the module and enables them.
func enablePAM(h *host, c api.ControlInfo, want string) (bool, error) {
	if r := pamResult(h, c, want); r.Status != api.ControlFail {
		return false, nil
	} else if c.Needs != "" && !h.exists(c.Needs) {
		return false, fmt.Errorf("%s (Steward does not install packages)", r.Reason)
	}
	var names []string
	for name, text := range pamProfiles[c.Module] {
		names = append(names, name)
		if text == "" {
			continue
		}
		if _, _, err := core.WriteIfChanged(h.path(filepath.Join(pamConfigs, name)), []byte(text), 0o644); err != nil {
			return false, err
		}
	}
	sort.Strings(names)
	out, err := h.run(h.ctx, "env", append([]string{"DEBIAN_FRONTEND=noninteractive", "pam-auth-update", "--enable"}, names...)...)
	if err != nil {
		return true, err
	}
	if r := pamResult(h, c, want); r.Status != api.ControlPass {
		return true, fmt.Errorf("pam-auth-update did not enable %s (%s): %s", c.Module, r.Actual, core.LastLines(out, 3))
	}
	return true, nil
}

// pamChanges says whether the profile would change the PAM stacks.
func pamChanges(h *host, spec api.HardeningProfile) bool {
	for _, c := range api.Catalogue {
		if on, want := spec.Expected(c); on && c.Family == "pam" && pamResult(h, c, want).Status == api.ControlFail {
			return true
		}
	}
	return false
}
