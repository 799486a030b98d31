package api

import (
	"fmt"
	"regexp"
	"strings"
)

// CustomControl is a control a profile brings itself (the extension
// point): a check command, the output it prints when the host is as wanted,
// and an apply command that makes it so. The agent runs each command as
// root with /bin/sh -c, the command one argument, never put inside another
// shell string.
type CustomControl struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Check must not change the host: it runs on every plan. It passes
	// when it exits 0 and prints Expected (both compared trimmed).
	Check    string   `json:"check"`
	Expected string   `json:"expected"`
	Apply    string   `json:"apply"`
	Refs     []string `json:"refs,omitempty"`
}

// Limits of a custom control.
const (
	CustomFamily         = "custom"
	MaxCustomCommand     = 16 << 10
	MaxCustomExpected    = 4 << 10
	maxCustomTitle       = 200
	maxCustomRef         = 64
	maxCustomRefs        = 16
	maxCustomControlsLen = 64
)

// CustomControlIDPattern is a custom control's id: "custom." and a lower
// snake-case name, apart from every catalogue id.
var CustomControlIDPattern = regexp.MustCompile(`^custom\.[a-z][a-z0-9_]{0,56}$`)

// validateCustomControls checks ids (unique), commands and outputs. The
// messages start with the provider's attribute, custom_control[i].
func validateCustomControls(cs []CustomControl) error {
	if len(cs) > maxCustomControlsLen {
		return fmt.Errorf("custom_control: at most %d custom controls in a profile", maxCustomControlsLen)
	}
	seen := map[string]int{}
	for i, c := range cs {
		at := fmt.Sprintf("custom_control[%d]", i)
		if !CustomControlIDPattern.MatchString(c.ID) {
			return fmt.Errorf("%s.id %q: want \"custom.\" and a lower_snake_case name, e.g. \"custom.issue_net_mode\"", at, c.ID)
		}
		if j, dup := seen[c.ID]; dup {
			return fmt.Errorf("%s.id %q: custom_control[%d] has the same id; ids are unique in a profile", at, c.ID, j)
		}
		seen[c.ID] = i
		if err := oneLine(c.Title, maxCustomTitle); err != nil {
			return fmt.Errorf("%s.title: %w", at, err)
		}
		for _, f := range [][2]string{{"check", c.Check}, {"apply", c.Apply}} {
			name, cmd := f[0], f[1]
			switch {
			case strings.TrimSpace(cmd) == "":
				return fmt.Errorf("%s.%s: an empty command", at, name)
			case len(cmd) > MaxCustomCommand:
				return fmt.Errorf("%s.%s: %d bytes, at most %d", at, name, len(cmd), MaxCustomCommand)
			case strings.ContainsRune(cmd, 0):
				return fmt.Errorf("%s.%s: a NUL byte cannot be passed to a command", at, name)
			}
		}
		switch {
		case len(c.Expected) > MaxCustomExpected:
			return fmt.Errorf("%s.expected: %d bytes, at most %d", at, len(c.Expected), MaxCustomExpected)
		case strings.ContainsRune(c.Expected, 0):
			return fmt.Errorf("%s.expected: a NUL byte, which no output compared as text has", at)
		}
		if len(c.Refs) > maxCustomRefs {
			return fmt.Errorf("%s.refs: at most %d references", at, maxCustomRefs)
		}
		for j, r := range c.Refs {
			if err := oneLine(r, maxCustomRef); err != nil {
				return fmt.Errorf("%s.refs[%d]: %w", at, j, err)
			}
		}
	}
	return nil
}

func oneLine(s string, limit int) error {
	if strings.TrimSpace(s) == "" || strings.ContainsAny(s, "\n\r\x00") || len(s) > limit {
		return fmt.Errorf("%q: want one non-empty line of at most %d characters", s, limit)
	}
	return nil
}
