package api

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// CustomMetric is /etc/steward/custom_metrics/<name>.json
// (steward_custom_metric): a program the daemon runs every collection, as
// root and without a shell, whose standard output is Prometheus text format
// or one number. One number is served as the gauge steward_custom_<name>.
type CustomMetric struct {
	Name string `json:"name"`
	// Command is the program, an absolute path, and its arguments. It is
	// run as it is: no shell, no PATH lookup, an empty environment but a
	// fixed PATH and the C locale.
	Command []string `json:"command"`
	// Timeout bounds one run; the agent refuses one longer than the host's
	// collection interval. Empty means DefaultCustomMetricTimeout, or the
	// interval when that is shorter.
	Timeout string `json:"timeout,omitempty"`
	// Help is the HELP text of steward_custom_<name>, and of the families
	// of text-format output that bring none.
	Help string `json:"help,omitempty"`
}

// CustomMetricKind is the managed-object kind of steward_custom_metric: the
// methods custom_metric.configure, .remove and .status, and the files
// /etc/steward/custom_metrics/<name>.json.
var CustomMetricKind = Kind[CustomMetric, CustomMetricObserved]{Name: "custom_metric", Dir: "custom_metrics"}

// CustomMetricObserved is what custom_metric.status observes: how the
// running daemon's last collection went for the command.
type CustomMetricObserved struct {
	// DaemonError says why the daemon could not be asked (it does not
	// run); everything below is then unknown and zero.
	DaemonError string `json:"daemon_error,omitempty"`
	// Collecting says whether the daemon runs the command: false until it
	// has read the spec file (well within a second of a change).
	Collecting bool `json:"collecting"`
	// LastRunAt is when the collection that last ran the command ended;
	// zero before the first.
	LastRunAt time.Time `json:"last_run_at,omitzero"`
	// OK says whether that run's output was served.
	OK bool `json:"ok"`
	// LastError is why it was not: a timeout, a failed exit with the start
	// of its standard error, or output that does not parse, quoting the
	// offending line.
	LastError string `json:"last_error,omitempty"`
	// SeriesCount is how many series the last run served.
	SeriesCount int `json:"series_count"`
}

// Custom metric limits and defaults.
const (
	// DefaultCustomMetricTimeout bounds one run of a command that sets no
	// timeout, unless the collection interval is shorter.
	DefaultCustomMetricTimeout = "5s"
	// MaxCustomMetricTimeout is the longest timeout a spec may ask for: the
	// longest collection interval. The agent checks it against the host's.
	MaxCustomMetricTimeout = time.Hour
	maxCustomMetricArgs    = 256
	maxCustomMetricArgLen  = 4096
	maxCustomMetricHelp    = 1024
)

// Error codes of custom_metric.configure beside CodeBadRequest.
const (
	// CodeProgramMissing means a command's program is not an executable
	// file on the host.
	CodeProgramMissing = "program_missing"
	// CodeTimeoutTooLong means a command's timeout is longer than the
	// host's collection interval.
	CodeTimeoutTooLong = "timeout_too_long"
)

// CustomMetricNamePattern is what a custom metric's name must match: it is
// an object name (a file name) and the snake_case end of the metric name
// steward_custom_<name>, so it has neither '-' nor a leading digit.
var CustomMetricNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ObjectName returns the custom metric's name.
func (c CustomMetric) ObjectName() string { return c.Name }

// Validate checks every attribute, naming it and saying what is accepted.
func (c CustomMetric) Validate() error {
	var errs []error
	if err := CheckCustomMetricName(c.Name); err != nil {
		errs = append(errs, err)
	}
	if err := CheckCustomMetricCommand(c.Command); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.TimeoutDuration(); err != nil {
		errs = append(errs, err)
	}
	if err := CheckCustomMetricHelp(c.Help); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CheckCustomMetricName checks a custom metric's name against
// CustomMetricNamePattern.
func CheckCustomMetricName(name string) error {
	if !CustomMetricNamePattern.MatchString(name) {
		return fmt.Errorf("name %q: want 1 to 63 of a-z, 0-9 and _, starting with a letter (it becomes the metric steward_custom_<name>)", name)
	}
	return nil
}

// CheckCustomMetricCommand checks a command: at least the program, an
// absolute clean path, since no shell and no PATH lookup runs it, and
// arguments a process can receive.
func CheckCustomMetricCommand(args []string) error {
	switch {
	case len(args) == 0:
		return errors.New(`command: empty: want the program's absolute path and its arguments, such as ["/usr/local/bin/queue-depth", "--queue", "mail"]`)
	case len(args) > maxCustomMetricArgs:
		return fmt.Errorf("command: %d elements: want at most %d", len(args), maxCustomMetricArgs)
	}
	prog := args[0]
	if !path.IsAbs(prog) || path.Clean(prog) != prog || strings.HasSuffix(prog, "/") {
		return fmt.Errorf(`command[0] %q: want the program's clean absolute path, such as "/usr/bin/cat" (no shell or PATH lookup runs it)`, prog)
	}
	for i, a := range args {
		switch {
		case strings.ContainsRune(a, 0):
			return fmt.Errorf("command[%d]: contains a NUL byte, which no program can receive", i)
		case len(a) > maxCustomMetricArgLen:
			return fmt.Errorf("command[%d]: %d bytes: want at most %d", i, len(a), maxCustomMetricArgLen)
		}
	}
	return nil
}

// ParseCustomMetricTimeout parses a command's timeout: a positive duration
// of at most MaxCustomMetricTimeout; empty is the default.
func ParseCustomMetricTimeout(s string) (time.Duration, error) {
	if s == "" {
		s = DefaultCustomMetricTimeout
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > MaxCustomMetricTimeout {
		return 0, fmt.Errorf(`timeout %q: want a positive duration of at most 1h, such as "500ms" or "5s" (and at most the host's collection interval)`, s)
	}
	return d, nil
}

// TimeoutDuration is the command's timeout, the default filled in.
func (c CustomMetric) TimeoutDuration() (time.Duration, error) {
	return ParseCustomMetricTimeout(c.Timeout)
}

// CheckCustomMetricHelp checks a help text: one line of printable UTF-8.
func CheckCustomMetricHelp(help string) error {
	switch {
	case len(help) > maxCustomMetricHelp:
		return fmt.Errorf("help: %d bytes: want at most %d", len(help), maxCustomMetricHelp)
	case !utf8.ValidString(help):
		return errors.New("help: not valid UTF-8: want one line of text")
	case strings.IndexFunc(help, unicode.IsControl) >= 0:
		return errors.New("help: contains a control character (a newline, a tab): want one line of text")
	}
	return nil
}
