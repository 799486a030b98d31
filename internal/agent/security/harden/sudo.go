package harden

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// SudoersFile holds the profiles' sudo defaults. sudo applies Defaults
// lines in the order it reads them, the last one winning, and reads
// /etc/sudoers.d in name order after /etc/sudoers: a name that sorts last
// wins. A change is checked with `visudo -c` and applied under
// confirm-or-revert, since a broken sudoers file ends every `sudo -n`.
const SudoersFile = "/etc/sudoers.d/zz-steward-hardening"

// sudoDefault is where a sudo default takes its value.
type sudoDefault struct{ value, file string }

// sudoDefaults reads the global Defaults lines of /etc/sudoers and of
// /etc/sudoers.d (skipping the names sudo skips: with a dot or ending
// in ~), the last setting of each name winning.
func (h *host) sudoDefaults() map[string]sudoDefault {
	return memo(h, "sudo", func() map[string]sudoDefault {
		out := map[string]sudoDefault{}
		files := []string{"/etc/sudoers"}
		names, _ := filepath.Glob(h.path("/etc/sudoers.d/*"))
		sort.Strings(names)
		for _, n := range names {
			if b := filepath.Base(n); !strings.Contains(b, ".") && !strings.HasSuffix(b, "~") {
				files = append(files, "/etc/sudoers.d/"+b)
			}
		}
		for _, f := range files {
			b, err := os.ReadFile(h.path(f))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Defaults")
				if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
					continue // Defaults:user, Defaults>runas and the like are not global
				}
				for _, tok := range strings.Split(rest, ",") {
					name, value := sudoToken(tok)
					if name != "" {
						out[name] = sudoDefault{value: value, file: f}
					}
				}
			}
		}
		return out
	})
}

// sudoToken parses "name", "!name" or "name = value" (quotes taken off).
func sudoToken(tok string) (name, value string) {
	tok = strings.TrimSpace(tok)
	if k, v, ok := strings.Cut(tok, "="); ok {
		return strings.TrimSpace(strings.TrimRight(k, "+-")), strings.Trim(strings.TrimSpace(v), `"`)
	}
	if n, ok := strings.CutPrefix(tok, "!"); ok {
		return strings.TrimSpace(n), "no"
	}
	return tok, "yes"
}

func sudoResult(h *host, c api.ControlInfo, want string) api.ControlResult {
	if r, skip := needs(h, c); skip {
		return r
	}
	r := api.ControlResult{Expected: want, Source: "/etc/sudoers, /etc/sudoers.d"}
	d, ok := h.sudoDefaults()[c.Key]
	if !ok {
		r.Status, r.Actual = api.ControlFail, "not set"
		return r
	}
	r.Actual, r.Source, r.Status = d.value, d.file, api.ControlPass
	if d.value != want {
		r.Status = api.ControlFail
		if d.file != SudoersFile && d.file > SudoersFile {
			r.Reason = fmt.Sprintf("%s sets %s, read after Steward's %s", d.file, c.Key, SudoersFile)
		}
	}
	return r
}

// renderSudoers is SudoersFile for the host's profiles' sudo controls.
func renderSudoers(ps []api.HardeningProfile) string {
	var b strings.Builder
	b.WriteString(header(ps))
	for _, c := range api.Catalogue {
		on, v := expectedAny(ps, c)
		switch {
		case !on || c.Family != "sudo":
		case v == "yes":
			fmt.Fprintf(&b, "Defaults %s\n", c.Key)
		case v == "no":
			fmt.Fprintf(&b, "Defaults !%s\n", c.Key)
		case strings.Trim(v, "0123456789") == "":
			fmt.Fprintf(&b, "Defaults %s=%s\n", c.Key, v)
		default:
			fmt.Fprintf(&b, "Defaults %s=%q\n", c.Key, v)
		}
	}
	return b.String()
}

// noApply is the apply of a family whose file the controller writes for
// all its controls at once.
func noApply(*host, api.ControlInfo, string) (bool, error) { return false, nil }
