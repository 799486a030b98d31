package harden

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// A conf control is one setting in a configuration file: login.defs,
// pwquality.conf, faillock.conf, limits.conf, coredump.conf. Its files
// are read in order and the last line that sets the key wins, as
// shadow's getdef, libpwquality, pam_limits and systemd read them.

// confFiles are the control's files on the host, in the order they are read.
func confFiles(h *host, c api.ControlInfo) []string {
	var out []string
	for i, pat := range strings.Fields(c.Path) {
		if i == 0 {
			out = append(out, h.path(pat))
			continue
		}
		m, _ := filepath.Glob(h.path(pat))
		sort.Strings(m)
		out = append(out, m...)
	}
	return out
}

// confLine parses one line: the key's words and the value, or ok false
// for a comment, a section header or another key.
func confLine(line string, c api.ControlInfo) (value string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
		return "", false
	}
	keyWords := strings.Fields(c.Key)
	if c.Sep != "" {
		k, v, found := strings.Cut(line, c.Sep)
		if !found || strings.TrimSpace(k) != c.Key {
			return "", false
		}
		return strings.TrimSpace(v), true
	}
	f := strings.Fields(line)
	if len(f) != len(keyWords)+1 {
		return "", false
	}
	for i, w := range keyWords {
		if f[i] != w {
			return "", false
		}
	}
	return f[len(keyWords)], true
}

// confSetting is where the key takes its value.
type confSetting struct {
	value, file string
	line        int
}

func confEffective(h *host, c api.ControlInfo) (confSetting, bool) {
	var s confSetting
	found := false
	for _, f := range confFiles(h, c) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for i, line := range strings.Split(string(b), "\n") {
			if v, ok := confLine(line, c); ok {
				rel, _ := filepath.Rel(h.root, f)
				s, found = confSetting{value: v, file: "/" + rel, line: i + 1}, true
			}
		}
	}
	return s, found
}

func confResult(h *host, c api.ControlInfo, want string) api.ControlResult {
	if r, skip := needs(h, c); skip {
		return r
	}
	r := api.ControlResult{Expected: want, Source: strings.Fields(c.Path)[0]}
	s, ok := confEffective(h, c)
	if !ok {
		r.Status, r.Reason = api.ControlFail, c.Key+" is not set (the program's built-in default applies)"
		return r
	}
	r.Actual, r.Source = s.value, fmt.Sprintf("%s:%d", s.file, s.line)
	r.Status = api.ControlPass
	if s.value != want {
		r.Status = api.ControlFail
	}
	return r
}

// setConf rewrites every line that sets the key, in every file read, to
// the wanted value (so no later file overrides it); with no such line it
// adds one to the first file.
func setConf(h *host, c api.ControlInfo, want string) (bool, error) {
	if _, skip := needs(h, c); skip {
		return false, nil
	}
	if s, ok := confEffective(h, c); ok && s.value == want {
		return false, nil
	}
	canon := c.Key + " " + want
	if c.Sep != "" {
		canon = c.Key + c.Sep + want // every reader of these files takes it without spaces
	}
	set := false
	files := confFiles(h, c)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		changed := false
		for i, line := range lines {
			if v, ok := confLine(line, c); ok {
				set = true
				if v != want {
					lines[i], changed = canon, true
				}
			}
		}
		if changed {
			if err := rewrite(f, strings.Join(lines, "\n")); err != nil {
				return false, err
			}
		}
	}
	if set {
		return true, nil
	}
	b, err := os.ReadFile(files[0])
	if err != nil && !os.IsNotExist(err) {
		return false, err
	}
	text := string(b)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	text += "# steward_hardening_profile: " + c.ID + "\n" + canon + "\n"
	return true, rewrite(files[0], text)
}

// rewrite replaces a file's content, keeping its mode and owner (0644
// root for a new one).
func rewrite(path, content string) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(content), mode)
}
