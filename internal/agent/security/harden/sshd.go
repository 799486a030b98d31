package harden

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// DropIn is Steward's sshd drop-in. sshd takes the first value it reads for
// a keyword, and Debian's sshd_config includes sshd_config.d/*.conf at its
// top, so a name that sorts first wins; a value set earlier anyway (a file
// that sorts before it, or a line above the Include) is reported as drift
// with where it comes from.
const DropIn = "/etc/ssh/sshd_config.d/00-steward-hardening.conf"

// DropInLast holds the keywords for which sshd keeps the last value
// (ControlInfo.LastWins): a name that sorts last.
const DropInLast = "/etc/ssh/sshd_config.d/zz-steward-hardening.conf"

// parseSSHDT reads `sshd -T`: keyword (lower case) to value, the first of
// a repeated keyword.
func parseSSHDT(out string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if k = strings.ToLower(k); k != "" {
			if _, seen := m[k]; !seen {
				m[k] = strings.TrimSpace(v)
			}
		}
	}
	return m
}

// renderDropIns are the drop-ins for the sshd controls of the host's
// profiles, in catalogue order: the one sshd reads first, and the one it
// reads last.
func renderDropIns(ps []api.HardeningProfile) (first, last string) {
	var f, l strings.Builder
	for _, b := range []*strings.Builder{&f, &l} {
		b.WriteString(header(ps))
	}
	for _, c := range api.Catalogue {
		if on, v := expectedAny(ps, c); on && c.Family == "sshd" {
			b := &f
			if c.LastWins {
				b = &l
			}
			fmt.Fprintf(b, "%s %s\n", c.SSHD, v)
		}
	}
	return f.String(), l.String()
}

// header is the first line of a file Steward writes for the profiles.
func header(ps []api.HardeningProfile) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return "# Written by steward-agent for steward_hardening_profile " + strings.Join(names, ", ") + "; edits are drift.\n"
}

// expectedAny is a control as the host's profiles want it: on when one
// of them has it on, with that one's value (they never disagree).
func expectedAny(ps []api.HardeningProfile, c api.ControlInfo) (bool, string) {
	for _, p := range ps {
		if on, v := p.Expected(c); on {
			return true, v
		}
	}
	return false, ""
}

// sshdSetting is where a keyword is first set in sshd's configuration.
type sshdSetting struct {
	value, file string
	line        int
}

// firstSettings reads sshd's configuration as sshd does (Include expanded
// in place, globs sorted, Match blocks ignored) and returns where each
// keyword (lower case) takes its value: where it is first set, or last
// for the LastWins keywords. root is the host's root directory.
func firstSettings(root string) map[string]sshdSetting {
	lastWins := map[string]bool{}
	for _, c := range api.Catalogue {
		if c.LastWins {
			lastWins[strings.ToLower(c.SSHD)] = true
		}
	}
	out := map[string]sshdSetting{}
	var read func(file string, depth int)
	read = func(file string, depth int) {
		if depth > 8 {
			return
		}
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			return
		}
		inMatch := false
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, _ := strings.Cut(strings.Join(strings.Fields(strings.ReplaceAll(line, "=", " ")), " "), " ")
			k = strings.ToLower(k)
			switch {
			case k == "match":
				inMatch = true
			case inMatch:
			case k == "include":
				for _, pat := range strings.Fields(v) {
					if !filepath.IsAbs(pat) {
						pat = filepath.Join("/etc/ssh", pat)
					}
					matches, _ := filepath.Glob(filepath.Join(root, pat))
					sort.Strings(matches)
					for _, m := range matches {
						rel, _ := filepath.Rel(root, m)
						read("/"+rel, depth+1)
					}
				}
			default:
				if _, seen := out[k]; !seen || lastWins[k] {
					out[k] = sshdSetting{value: v, file: file, line: i + 1}
				}
			}
		}
	}
	read("/etc/ssh/sshd_config", 0)
	return out
}

// sshdResult compares a control's effective value with the expected one.
func sshdResult(c api.ControlInfo, want string, effective map[string]string, first map[string]sshdSetting) api.ControlResult {
	r := api.ControlResult{Expected: want, Source: "sshd -T"}
	k := strings.ToLower(c.SSHD)
	got, ok := effective[k]
	r.Actual = got
	if s, set := first[k]; set {
		r.Source = fmt.Sprintf("%s:%d", s.file, s.line)
	}
	switch {
	case !ok:
		r.Status, r.Reason = api.ControlError, "sshd -T does not report "+c.SSHD
	case sshdEqual(c.SSHD, got, want):
		r.Status = api.ControlPass
	default:
		r.Status = api.ControlFail
		if s, set := first[k]; set && s.file != DropIn && s.file != DropInLast {
			order, ours := "before", DropIn
			if c.LastWins {
				order, ours = "after", DropInLast
			}
			r.Reason = fmt.Sprintf("%s %s is set in %s:%d, which sshd reads %s Steward's %s", c.SSHD, s.value, s.file, s.line, order, ours)
		}
	}
	return r
}

// sshdEqual compares as sshd -T prints values: lower-case keywords and
// "without-password" for prohibit-password.
func sshdEqual(keyword, got, want string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.Join(strings.Fields(s), " "))
		if s == "without-password" {
			s = "prohibit-password"
		}
		return s
	}
	if strings.EqualFold(keyword, "Banner") {
		return got == want
	}
	return norm(got) == norm(want)
}
