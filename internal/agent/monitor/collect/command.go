package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup"
)

// MaxCommandOutput bounds what a custom metric command may print on
// standard output in one run; more is an error and the command is killed.
const MaxCommandOutput = 64 << 10

// maxCommandStderr bounds how much of a command's standard error is kept
// for its error message.
const maxCommandStderr = 512

// commandEnv is the whole environment of a custom metric command: a fixed
// PATH and the C locale, so that its numbers never come with a decimal comma
// and it sees nothing of the daemon's environment.
var commandEnv = []string{"PATH=" + commandPath, "LC_ALL=C", "LANG=C"}

// commandPath is the PATH of custom metric commands, and where their
// program is looked up when it is not a path.
const commandPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Command is a custom metric command (steward_custom_metric): a program
// run every collection, without a shell, whose standard output is either
// Prometheus text format or one number.
type Command struct {
	// Name is snake_case. The command's collector is custom_<Name>, and a
	// command that prints one number yields the gauge steward_custom_<Name>.
	Name string
	// Args is the program (absolute, or looked up in the fixed PATH) and its arguments.
	Args []string
	// Timeout bounds one run (Config.Timeout when zero); at the timeout the
	// command and every process in its process group are killed.
	Timeout time.Duration
	// Help is the HELP of steward_custom_<Name>, and of the families of
	// text-format output that bring none; a default when empty.
	Help string
}

// commandCollector runs one Command.
type commandCollector struct {
	cmd    Command
	limit  time.Duration
	single *prometheus.Desc
	help   string
	outBuf bytes.Buffer
}

func newCommandCollector(cmd Command, defaultTimeout time.Duration) (*commandCollector, error) {
	if !isSnakeCase(cmd.Name) {
		return nil, fmt.Errorf("add custom metric command %q: name must be snake_case (a-z, 0-9, _), starting with a letter", cmd.Name)
	}
	if len(cmd.Args) == 0 || cmd.Args[0] == "" {
		return nil, fmt.Errorf("add custom metric command %q: no program to run", cmd.Name)
	}
	limit := cmd.Timeout
	if limit <= 0 {
		limit = defaultTimeout
	}
	single, help := "Output of custom metric command "+cmd.Name+".", "Metric from custom metric command "+cmd.Name+"."
	if cmd.Help != "" {
		single, help = cmd.Help, cmd.Help
	}
	return &commandCollector{
		cmd:    cmd,
		limit:  limit,
		single: prometheus.NewDesc("steward_custom_"+cmd.Name, single, nil, nil),
		help:   help,
	}, nil
}

func (c *commandCollector) Name() string { return c.cmd.CollectorName() }

// CollectorName is the name of the command's collector in Set.Status and
// on steward_collector_success: custom_<Name>.
func (c Command) CollectorName() string { return "custom_" + c.Name }

// key identifies a command with everything that makes it run differently.
func (c Command) key() string {
	return fmt.Sprintf("%s\x00%q\x00%s\x00%s", c.Name, c.Args, c.Timeout, c.Help)
}

func (c *commandCollector) timeout() time.Duration { return c.limit }

func (c *commandCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	out, err := runBounded(ctx, c.cmd.Args, &c.outBuf, MaxCommandOutput)
	if err != nil {
		return fmt.Errorf("run %s: %w", c.cmd.Args[0], err)
	}
	fams, err := parseCommandOutput(out)
	if err != nil {
		return fmt.Errorf("parse output of %s: %w", c.cmd.Args[0], err)
	}
	if fams == nil {
		v, _ := parseNumber(out)
		ch <- constMetric(c.single, prometheus.GaugeValue, v)
		return nil
	}
	sendFamilies(ch, fams, c.help)
	return nil
}

// parseCommandOutput reads a command's output: nil families for one number,
// or the families of Prometheus text format, all or nothing.
func parseCommandOutput(out []byte) ([]*dto.MetricFamily, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, errors.New("no output")
	}
	if _, ok := parseNumber(out); ok {
		return nil, nil
	}
	fams, err := parseTextFormat(out)
	if err != nil {
		return nil, err
	}
	if len(fams) == 0 {
		return nil, errors.New("no samples, only comments")
	}
	return fams, nil
}

// parseNumber reads output that is one number (surrounding white space
// allowed), as the text format writes values: "42", "-1.5e3", "NaN", "+Inf".
func parseNumber(out []byte) (float64, bool) {
	s := strings.TrimSpace(string(out))
	if s == "" || strings.ContainsAny(s, " \t\n") {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// cappedBuffer is an io.Writer that keeps at most max bytes; past that it
// fails the write and calls over once, which kills the command.
type cappedBuffer struct {
	buf      *bytes.Buffer
	max      int
	over     func()
	overflow bool
}

func (w *cappedBuffer) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		w.buf.Write(p[:w.max-w.buf.Len()])
		if !w.overflow {
			w.overflow = true
			w.over()
		}
		return 0, errOutputTooLarge
	}
	return w.buf.Write(p)
}

var errOutputTooLarge = errors.New("output too large")

// headWriter keeps the first max bytes written to it and drops the rest
// without failing, so a chatty standard error never blocks the command.
type headWriter struct {
	b   []byte
	max int
}

func (w *headWriter) Write(p []byte) (int, error) {
	if room := w.max - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// runBounded runs args (no shell) with the fixed environment, standard
// input from /dev/null, and returns its standard output, read into buf
// and at most limit bytes: a command that prints more is killed (its whole
// process group) and its output discarded. ctx's end kills it too. A
// non-zero exit is an error quoting the start of its standard error.
func runBounded(ctx context.Context, args []string, buf *bytes.Buffer, limit int) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	buf.Reset()
	stdout := &cappedBuffer{buf: buf, max: limit, over: cancel}
	stderr := &headWriter{max: maxCommandStderr}
	prog, err := lookPath(args[0])
	if err != nil {
		return nil, err
	}
	cmd := backup.CommandContext(ctx, prog, args[1:]...)
	cmd.Env = commandEnv
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	err = cmd.Run()
	switch {
	case stdout.overflow:
		return nil, fmt.Errorf("output exceeds %d bytes; killed", limit)
	case ctx.Err() != nil && cmd.ProcessState != nil:
		return nil, fmt.Errorf("killed after %s: %w", time.Since(start).Round(time.Millisecond), context.Cause(ctx))
	case err != nil:
		if msg := strings.TrimSpace(string(stderr.b)); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, strings.ToValidUTF8(msg, "\uFFFD"))
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// lookPath finds prog in commandPath, not in the daemon's own PATH, so
// that the command found is the one its environment says.
func lookPath(prog string) (string, error) {
	if strings.ContainsRune(prog, '/') {
		return prog, nil
	}
	for dir := range strings.SplitSeq(commandPath, ":") {
		if p, err := exec.LookPath(filepath.Join(dir, prog)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("find %s: not in %s", prog, commandPath)
}
