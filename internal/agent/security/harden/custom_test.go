package harden

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// shellQuote quotes s for /bin/sh as a profile's author would.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'" }

// The check's trimmed output against the trimmed expected value, with how
// it exited and what it said on stderr when it fails.
func TestCustomResult(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "notice")
	if err := os.WriteFile(f, []byte("  authorised use only \n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctl := api.CustomControl{ID: "custom.notice", Title: "a notice", Check: "cat " + shellQuote(f), Expected: "authorised use only\n",
		Apply: "true", Refs: []string{"ACME 1.2"}}
	r := customResult(context.Background(), ctl)
	if r.Status != api.ControlPass || r.Family != "custom" || r.Expected != "authorised use only" || r.Refs[0] != "ACME 1.2" {
		t.Fatalf("matching output: %+v", r)
	}
	ctl.Expected = "keep out"
	if r := customResult(context.Background(), ctl); r.Status != api.ControlFail || r.Actual != "authorised use only" || r.Source != "check: exit status 0" {
		t.Errorf("other output: %+v", r)
	}
	ctl.Check, ctl.Expected = "echo right; echo broken >&2; exit 3", "right"
	if r := customResult(context.Background(), ctl); r.Status != api.ControlFail || r.Source != "check: exit status 3" || r.Reason != "stderr: broken" {
		t.Errorf("right output, exit 3: %+v", r)
	}
	// An output past the cap never passes, and the status quotes its start.
	ctl.Check, ctl.Expected = "yes | head -c 200000", "y"
	if r := customResult(context.Background(), ctl); r.Status != api.ControlFail || len(r.Actual) > customShown+len("…") || !strings.HasPrefix(r.Actual, "y\ny\n") {
		t.Errorf("endless output: %d bytes, %+v", len(r.Actual), r.Status)
	}
}

// Nothing but /bin/sh reads a command: a path with quotes, $(), a
// backquote and a newline reaches the file it names (were any of it
// expanded, cat would look for another file). The environment is PATH and
// LANG=C, stdin is /dev/null, the directory /.
func TestCustomNoInterpolation(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "it's \"q\" $(printf x) `printf y`\nz")
	if err := os.WriteFile(name, []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctl := api.CustomControl{ID: "custom.quoted", Title: "quoted", Check: "cat -- " + shellQuote(name), Expected: "ok", Apply: "true"}
	if r := customResult(context.Background(), ctl); r.Status != api.ControlPass {
		t.Errorf("the file with quotes, $() and a newline in its name: %+v", r)
	}
	ctl.Check, ctl.Expected = `printf '%s|%s|%s|' "$LANG" "${HOME-unset}" "$PATH"; cat; pwd`, "C|unset|"+strings.TrimPrefix(customEnv[0], "PATH=")+"|/"
	if r := customResult(context.Background(), ctl); r.Status != api.ControlPass {
		t.Errorf("environment, stdin and directory: %+v", r)
	}
}

// A command that outlives the timeout is killed with what it started, and
// the control is in error, never passed or failed.
func TestCustomTimeout(t *testing.T) {
	defer func(d time.Duration) { customTimeout = d }(customTimeout)
	customTimeout = 300 * time.Millisecond
	start := time.Now()
	ctl := api.CustomControl{ID: "custom.slow", Title: "slow", Check: "sleep 30 & sleep 30; echo done", Expected: "done", Apply: "true"}
	r := customResult(context.Background(), ctl)
	if r.Status != api.ControlError || !strings.Contains(r.Reason, "did not finish in 300ms") {
		t.Errorf("slow check: %+v", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the slow check held the agent %s", d)
	}
	defer func(s string) { customShell = s }(customShell)
	customShell = filepath.Join(t.TempDir(), "no-shell")
	if r := customResult(context.Background(), ctl); r.Status != api.ControlError || !strings.Contains(r.Reason, "could not run") {
		t.Errorf("no shell: %+v", r)
	}
}

// Apply runs only where the check fails, checks again, and fails naming
// the control when its apply does not fix it.
func TestApplyCustom(t *testing.T) {
	dir := t.TempDir()
	f := shellQuote(filepath.Join(dir, "state"))
	counter := shellQuote(filepath.Join(dir, "applies"))
	fixes := api.CustomControl{ID: "custom.fixes", Title: "fixed by its apply", Check: "cat " + f + " 2>/dev/null", Expected: "fixed",
		Apply: "echo x >> " + counter + "; echo fixed > " + f}
	spec := api.HardeningProfile{Name: "base", Level: "baseline", CustomControls: []api.CustomControl{fixes}}
	var applied core.Applied
	if err := applyCustom(context.Background(), spec, &applied); err != nil || !applied.Changed {
		t.Fatalf("first apply: %v, changed %v", err, applied.Changed)
	}
	applied = core.Applied{}
	if err := applyCustom(context.Background(), spec, &applied); err != nil || applied.Changed {
		t.Fatalf("second apply: %v, changed %v; want nothing to do", err, applied.Changed)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "applies")); string(b) != "x\n" {
		t.Errorf("the apply command ran %q times, want once", b)
	}
	spec.CustomControls = append(spec.CustomControls, api.CustomControl{ID: "custom.never", Title: "not fixed", Check: "echo no", Expected: "yes", Apply: "true"})
	err := applyCustom(context.Background(), spec, &applied)
	if err == nil || !strings.Contains(err.Error(), `custom.never: the check still fails after the apply command ran: it printed "no" (check: exit status 0), want "yes"`) {
		t.Errorf("an apply that does not fix: %v", err)
	}
	spec.CustomControls[1].Apply = "echo cannot >&2; exit 4"
	if err := applyCustom(context.Background(), spec, &applied); err == nil || !strings.Contains(err.Error(), "custom.never: the apply command failed (exit status 4): cannot") {
		t.Errorf("a failing apply command: %v", err)
	}
}

// Custom controls come after the catalogue's in what Observe reports.
func TestObserveCustom(t *testing.T) {
	root := t.TempDir()
	c := &controller{deps: core.Deps{Paths: core.PathsUnder(root)}, run: func(context.Context, string, ...string) (string, error) {
		return "", errors.New("no sshd here")
	}}
	spec := api.HardeningProfile{Name: "base", Level: "baseline", CustomControls: []api.CustomControl{
		{ID: "custom.a", Title: "a", Check: "echo a", Expected: "a", Apply: "true"},
		{ID: "custom.b", Title: "b", Check: "echo a", Expected: "b", Apply: "true"},
	}}
	obs, err := c.Observe(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	n := len(obs.Controls)
	if n != len(api.Catalogue)+2 || obs.Controls[n-2].ID != "custom.a" || obs.Controls[n-2].Status != api.ControlPass ||
		obs.Controls[n-1].ID != "custom.b" || obs.Controls[n-1].Status != api.ControlFail {
		t.Errorf("last two of %d: %+v", n, obs.Controls[n-2:])
	}
}

func TestCustomControlValidate(t *testing.T) {
	ok := api.CustomControl{ID: "custom.issue_net", Title: "t", Check: "stat -c %a /etc/issue.net", Expected: "644", Apply: "chmod 644 /etc/issue.net\n"}
	with := func(f func(c *api.CustomControl)) []api.CustomControl {
		c := ok
		f(&c)
		return []api.CustomControl{c}
	}
	if err := (api.HardeningProfile{Name: "b", Level: "baseline", CustomControls: []api.CustomControl{ok}}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cs   []api.CustomControl
		want string
	}{
		{with(func(c *api.CustomControl) { c.ID = "custom.Issue-Net" }), `custom_control[0].id "custom.Issue-Net": want "custom." and a lower_snake_case name`},
		{with(func(c *api.CustomControl) { c.ID = "sshd.banner" }), `custom_control[0].id "sshd.banner"`},
		{[]api.CustomControl{ok, ok}, `custom_control[1].id "custom.issue_net": custom_control[0] has the same id`},
		{with(func(c *api.CustomControl) { c.Check = " \n" }), "custom_control[0].check: an empty command"},
		{with(func(c *api.CustomControl) { c.Apply = "true\x00" }), "custom_control[0].apply: a NUL byte"},
		{with(func(c *api.CustomControl) { c.Apply = strings.Repeat("x", api.MaxCustomCommand+1) }), "custom_control[0].apply: 16385 bytes, at most 16384"},
		{with(func(c *api.CustomControl) { c.Expected = strings.Repeat("x", 4097) }), "custom_control[0].expected: 4097 bytes, at most 4096"},
		{with(func(c *api.CustomControl) { c.Title = "two\nlines" }), "custom_control[0].title"},
		{with(func(c *api.CustomControl) { c.Refs = []string{""} }), "custom_control[0].refs[0]"},
	} {
		p := api.HardeningProfile{Name: "b", Level: "baseline", CustomControls: c.cs}
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v; want %q", err, c.want)
		}
	}
}
