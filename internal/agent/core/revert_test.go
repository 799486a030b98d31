package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/audit"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// toySpec is a kind whose change can "cut access": it writes one file.
type toySpec struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Fail  bool   `json:"fail,omitempty"` // Apply writes, then fails
}

func (s toySpec) ObjectName() string { return s.Name }
func (s toySpec) Validate() error    { return nil }

var toyKind = api.Kind[toySpec, string]{Name: "toy", Dir: "toy"}

type toyController struct{ file string }

func (c toyController) Check(context.Context, toySpec) error { return nil }

func (c toyController) Guard(_ context.Context, spec toySpec) (*core.RevertPlan, error) {
	if b, err := os.ReadFile(c.file); err == nil && string(b) == spec.Value {
		return nil, nil
	}
	saved, err := core.SaveFile(c.file)
	if err != nil {
		return nil, err
	}
	return &core.RevertPlan{Timeout: 30 * time.Second, Detail: "toy value " + spec.Value, Files: []core.SavedFile{saved},
		Then: [][]string{{"touch", c.file + ".reloaded"}}}, nil
}

func (c toyController) Apply(_ context.Context, spec toySpec, _ *toySpec) (core.Applied, error) {
	b, _ := os.ReadFile(c.file)
	if string(b) == spec.Value {
		return core.Applied{}, nil
	}
	if err := os.WriteFile(c.file, []byte(spec.Value), 0o640); err != nil {
		return core.Applied{}, err
	}
	if spec.Fail {
		return core.Applied{}, errors.New("the reload refused it")
	}
	return core.Applied{Changed: true}, nil
}

func (c toyController) Observe(context.Context, toySpec) (string, error) {
	b, _ := os.ReadFile(c.file)
	return string(b), nil
}

func (c toyController) Remove(context.Context, toySpec) error { return os.Remove(c.file) }

// fakeTimers records what would be armed in systemd.
type fakeTimers struct {
	mu    sync.Mutex
	armed map[string][]string
}

func (f *fakeTimers) Arm(_ context.Context, unit string, _ time.Duration, argv []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.armed[unit]; ok {
		return errors.New("unit already exists")
	}
	f.armed[unit] = argv
	return nil
}

func (f *fakeTimers) Disarm(_ context.Context, unit string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.armed, unit)
	return nil
}

func (f *fakeTimers) units() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var u []string
	for k := range f.armed {
		u = append(u, k)
	}
	return u
}

func toyHost(t *testing.T) (core.Deps, map[string]core.Handler, string, *fakeTimers) {
	t.Helper()
	p := coretest.NewHost(t)
	file := filepath.Join(p.Root, "etc", "toy.conf")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	timers := &fakeTimers{armed: map[string][]string{}}
	deps := core.Deps{Paths: p, Timers: timers}
	methods := map[string]core.Handler{}
	core.RegisterKind(methods, toyKind, func(core.Deps) core.Controller[toySpec, string] { return toyController{file: file} })
	return deps, methods, file, timers
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func configureToy(t *testing.T, deps core.Deps, methods map[string]core.Handler, spec toySpec) (api.ObjectStatus[toySpec, string], error) {
	t.Helper()
	var st api.ObjectStatus[toySpec, string]
	err := coretest.Call(t, methods, deps, toyKind.Configure().Name, spec, &st)
	return st, err
}

// A guarded change arms its revert before it changes anything; confirmed,
// it stays and its timer is gone.
func TestRevert_confirmKeepsTheChange(t *testing.T) {
	deps, methods, file, timers := toyHost(t)
	st, err := configureToy(t, deps, methods, toySpec{Name: "a", Value: "new"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending == nil || st.Pending.Detail != "toy value new" || time.Until(st.Pending.RevertAt) < 20*time.Second {
		t.Fatalf("pending %+v: want a change reverting in 30 s", st.Pending)
	}
	if u := timers.units(); len(u) != 1 || u[0] != "steward-revert-"+st.Pending.ID {
		t.Fatalf("armed %v", u)
	}
	if argv := timers.armed["steward-revert-"+st.Pending.ID]; strings.Join(argv[1:], " ") != "revert "+st.Pending.ID {
		t.Errorf("the timer runs %v", argv)
	}
	id := st.Pending.ID
	if err := core.Confirm(context.Background(), deps, id, api.Operator{SSHUser: "deploy"}); err != nil {
		t.Fatal(err)
	}
	if len(timers.units()) != 0 || readFile(t, file) != "new" {
		t.Fatalf("after confirm: timers %v, file %q", timers.units(), readFile(t, file))
	}
	// The same spec again changes nothing: no pending change.
	st, err = configureToy(t, deps, methods, toySpec{Name: "a", Value: "new"})
	if err != nil || st.Pending != nil || len(timers.units()) != 0 {
		t.Fatalf("unchanged configure: pending %+v, timers %v, %v", st.Pending, timers.units(), err)
	}
	// A revert after the confirm finds nothing to do.
	var ae *api.Error
	if _, err := core.Revert(context.Background(), deps, id, "late"); !errors.As(err, &ae) || ae.Code != api.CodeNotFound || readFile(t, file) != "new" {
		t.Errorf("revert of a confirmed change: %v, file %q; want not_found and the change kept", err, readFile(t, file))
	}
}

// Unconfirmed, the revert puts back the file, its mode and the spec file
// the host had (here none), runs the reload, and a confirm that comes late
// is told so. The audit log has the configure, the revert, nothing else.
func TestRevert_unconfirmedPutsItAllBack(t *testing.T) {
	deps, methods, file, _ := toyHost(t)
	st, err := configureToy(t, deps, methods, toySpec{Name: "a", Value: "new"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := core.Revert(context.Background(), deps, st.Pending.ID, "not confirmed")
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("revert: %+v, %v", res, err)
	}
	if got := readFile(t, file); got != "old" {
		t.Errorf("file %q after the revert, want old", got)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v after the revert, want 0644", fi.Mode().Perm())
	}
	if _, err := os.Stat(file + ".reloaded"); err != nil {
		t.Errorf("the reload did not run: %v", err)
	}
	if _, err := os.Stat(deps.Paths.ObjectFile("toy", "a")); !os.IsNotExist(err) {
		t.Errorf("the spec file of a new object is still there after the revert: %v", err)
	}
	err = core.Confirm(context.Background(), deps, st.Pending.ID, api.Operator{})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeChangeReverted || !strings.Contains(ae.Message, "not confirmed") {
		t.Fatalf("late confirm: %v; want %s with the reason", err, api.CodeChangeReverted)
	}
	var actions []string
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, deps.Paths.AuditLog)), "\n") {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		actions = append(actions, e.Action+" "+e.Result)
	}
	if len(actions) != 2 || !strings.HasPrefix(actions[0], "configure pending confirmation until") || actions[1] != "revert reverted: not confirmed" {
		t.Errorf("audit: %q", actions)
	}
}

// An update reverts to the spec file the host had before, so the host's
// spec and its live state agree again.
func TestRevert_updateRestoresThePreviousSpec(t *testing.T) {
	deps, methods, file, _ := toyHost(t)
	st, err := configureToy(t, deps, methods, toySpec{Name: "a", Value: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if err := core.Confirm(context.Background(), deps, st.Pending.ID, api.Operator{}); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, deps.Paths.ObjectFile("toy", "a"))
	st, err = configureToy(t, deps, methods, toySpec{Name: "a", Value: "two"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.Revert(context.Background(), deps, st.Pending.ID, "not confirmed"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, deps.Paths.ObjectFile("toy", "a")); got != before || readFile(t, file) != "one" {
		t.Errorf("after the revert: spec %q, file %q; want the first spec and one", got, readFile(t, file))
	}
}

// An apply that fails half way is put back at once, not at the timer.
func TestRevert_failedApplyRevertsAtOnce(t *testing.T) {
	deps, methods, file, timers := toyHost(t)
	_, err := configureToy(t, deps, methods, toySpec{Name: "a", Value: "bad", Fail: true})
	if err == nil || !strings.Contains(err.Error(), "the reload refused it") {
		t.Fatalf("configure: %v", err)
	}
	if got := readFile(t, file); got != "old" || len(timers.units()) != 0 {
		t.Errorf("after the failed apply: file %q, timers %v; want old and none", got, timers.units())
	}
}

// At daemon start, a change past its time whose timer never ran is
// reverted; one still in time gets its timer again.
func TestRevertOverdue(t *testing.T) {
	deps, methods, file, timers := toyHost(t)
	st, err := configureToy(t, deps, methods, toySpec{Name: "a", Value: "new"})
	if err != nil {
		t.Fatal(err)
	}
	timers.armed = map[string][]string{} // the host restarted: transient timers are gone
	if err := core.RevertOverdue(context.Background(), deps); err != nil {
		t.Fatal(err)
	}
	if u := timers.units(); len(u) != 1 || readFile(t, file) != "new" {
		t.Fatalf("in time: timers %v, file %q; want the timer armed again and the change kept", u, readFile(t, file))
	}
	later := deps
	later.Now = func() time.Time { return st.Pending.RevertAt.Add(time.Second) }
	if err := core.RevertOverdue(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, file); got != "old" {
		t.Errorf("overdue: file %q, want old", got)
	}
}
