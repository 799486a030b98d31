package api

import (
	"strings"
	"testing"
	"time"
)

func TestCustomMetric_Validate(t *testing.T) {
	t.Parallel()
	base := func() CustomMetric {
		return CustomMetric{Name: "queue_depth", Command: []string{"/usr/local/bin/queue-depth", "--queue", "mail"}}
	}
	for _, tc := range []struct {
		name string
		edit func(*CustomMetric)
		want string // "" means valid
	}{
		{"valid", func(*CustomMetric) {}, ""},
		{"valid with everything", func(c *CustomMetric) { c.Timeout, c.Help = "250ms", "Mails waiting, per queue." }, ""},
		{"dash in name", func(c *CustomMetric) { c.Name = "queue-depth" }, `name "queue-depth": want 1 to 63 of a-z, 0-9 and _, starting with a letter`},
		{"digit first", func(c *CustomMetric) { c.Name = "1queue" }, `name "1queue"`},
		{"path as name", func(c *CustomMetric) { c.Name = "../etc" }, `name "../etc"`},
		{"empty command", func(c *CustomMetric) { c.Command = nil }, "command: empty: want the program's absolute path"},
		{"relative program", func(c *CustomMetric) { c.Command = []string{"queue-depth"} }, `command[0] "queue-depth": want the program's clean absolute path`},
		{"dot dot program", func(c *CustomMetric) { c.Command = []string{"/usr/bin/../../tmp/x"} }, `command[0] "/usr/bin/../../tmp/x"`},
		{"shell line as program", func(c *CustomMetric) { c.Command = []string{"cat /tmp/x | wc -l"} }, `command[0] "cat /tmp/x | wc -l"`},
		{"nul in argument", func(c *CustomMetric) { c.Command = []string{"/bin/echo", "a\x00b"} }, "command[1]: contains a NUL byte"},
		{"bad timeout", func(c *CustomMetric) { c.Timeout = "soon" }, `timeout "soon": want a positive duration of at most 1h`},
		{"zero timeout", func(c *CustomMetric) { c.Timeout = "0s" }, `timeout "0s"`},
		{"day timeout", func(c *CustomMetric) { c.Timeout = "24h" }, `timeout "24h"`},
		{"help with newline", func(c *CustomMetric) { c.Help = "one\ntwo" }, "help: contains a control character"},
		{"help not utf-8", func(c *CustomMetric) { c.Help = "\xff" }, "help: not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCustomMetric_timeoutDefault(t *testing.T) {
	t.Parallel()
	d, err := CustomMetric{}.TimeoutDuration()
	if err != nil || d != 5*time.Second {
		t.Errorf("TimeoutDuration() of no timeout = %s, %v; want 5s", d, err)
	}
}
