package harden

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Custom controls (api.CustomControl): a profile's own check and apply
// commands, run like the catalogue's controls in Observe and Apply. Each
// command is one argument of `/bin/sh -c`, exactly as the profile has it:
// Steward never puts it inside another shell string, so its quoting is the
// author's and only /bin/sh reads it. It runs as the agent's user (root),
// in /, with stdin from /dev/null, PATH and LANG=C only, a timeout, and its
// output capped.

const (
	// customOutputCap bounds what a command's stdout and stderr keep each;
	// an expected output is at most api.MaxCustomExpected.
	customOutputCap = 64 << 10
	// customShown is how much of an output a status or an error quotes.
	customShown = 200
)

var (
	// customTimeout bounds each command.
	customTimeout = 30 * time.Second
	customShell   = "/bin/sh"
	customEnv     = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
)

// shellRun is what one command did.
type shellRun struct {
	stdout, stderr string
	// truncated says stdout passed customOutputCap.
	truncated bool
	ok        bool   // exit status 0
	state     string // "exit status 1", "signal: killed"
}

// cappedBuffer keeps the first max bytes written to it and drops the rest,
// so that a command printing without end neither blocks nor fills memory.
type cappedBuffer struct {
	b    []byte
	max  int
	over bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - len(c.b); room < len(p) {
		c.b, c.over = append(c.b, p[:max(room, 0)]...), true
	} else {
		c.b = append(c.b, p...)
	}
	return len(p), nil
}

// runShell runs `/bin/sh -c command`. An error means the command could not
// run to its end (no shell, the timeout); a non-zero exit is not an error.
func runShell(ctx context.Context, command string, timeout time.Duration) (shellRun, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Its own process group, so the timeout kills what it started too; a
	// child left running with the output open (`daemon &`) does not hold
	// the agent: its output is closed a second after the shell exits.
	cmd := backup.CommandContext(ctx, customShell, "-c", command)
	cmd.Env, cmd.Dir = customEnv, "/"
	// cmd.Stdin stays nil: the command reads /dev/null.
	stdout, stderr := &cappedBuffer{max: customOutputCap}, &cappedBuffer{max: customOutputCap}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	r := shellRun{stdout: string(stdout.b), stderr: string(stderr.b), truncated: stdout.over}
	if cmd.ProcessState != nil {
		r.state = cmd.ProcessState.String()
	}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("did not finish in %s and was killed", timeout)
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
		r.ok = cmd.ProcessState.Success()
		return r, nil
	case errors.As(err, &exitErr):
		return r, nil
	default:
		return r, fmt.Errorf("could not run: %w", err)
	}
}

// quoted is the start of a command's output as a status or an error quotes
// it: at most customShown bytes, cut at a character, valid UTF-8.
func quoted(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > customShown {
		cut := customShown
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// customResult runs the control's check: pass when it exits 0 and prints
// the expected output (both trimmed); fail with what it printed and how it
// exited; error when it cannot run.
func customResult(ctx context.Context, c api.CustomControl) api.ControlResult {
	r := api.ControlResult{ID: c.ID, Title: c.Title, Family: api.CustomFamily, Refs: c.Refs,
		Expected: strings.TrimSpace(c.Expected), Source: "check"}
	run, err := runShell(ctx, c.Check, customTimeout)
	if err != nil {
		r.Status, r.Reason = api.ControlError, "the check "+err.Error()
		return r
	}
	got := strings.TrimSpace(run.stdout)
	r.Actual = quoted(got)
	if run.ok && !run.truncated && got == r.Expected {
		r.Status = api.ControlPass
		return r
	}
	r.Status, r.Source = api.ControlFail, "check: "+run.state
	if e := quoted(run.stderr); e != "" {
		r.Reason = "stderr: " + e
	}
	return r
}

// observeCustom checks every custom control of the profile, in its order.
func observeCustom(ctx context.Context, spec api.HardeningProfile) []api.ControlResult {
	out := make([]api.ControlResult, 0, len(spec.CustomControls))
	for _, c := range spec.CustomControls {
		out = append(out, customResult(ctx, c))
	}
	return out
}

// applyCustom runs the apply command of each custom control whose check
// fails, then checks it again: a check that still fails fails the apply,
// naming the control and what its check printed.
func applyCustom(ctx context.Context, spec api.HardeningProfile, applied *core.Applied) error {
	for _, c := range spec.CustomControls {
		r := customResult(ctx, c)
		switch r.Status {
		case api.ControlPass:
			continue
		case api.ControlError:
			return core.BadRequest("%s: %s", c.ID, r.Reason)
		}
		applied.Changed = true
		run, err := runShell(ctx, c.Apply, customTimeout)
		switch {
		case err != nil:
			return core.BadRequest("%s: the apply command %v", c.ID, err)
		case !run.ok:
			return core.BadRequest("%s: the apply command failed (%s): %s", c.ID, run.state, quoted(run.stderr+"\n"+run.stdout))
		}
		if again := customResult(ctx, c); again.Status != api.ControlPass {
			msg := fmt.Sprintf("%s: the check still fails after the apply command ran: it printed %q (%s), want %q", c.ID, again.Actual, again.Source, again.Expected)
			if again.Reason != "" {
				msg += "; " + again.Reason
			}
			return core.BadRequest("%s", msg)
		}
	}
	return nil
}
