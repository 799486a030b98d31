package alert

import (
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// fakeSource is an in-memory Source: the latest sample of each series and
// every point it was given.
type fakeSource struct {
	latest map[string][]Series        // metric → series
	points map[string]map[int][]Point // metric → index in latest → points
}

func newFakeSource() *fakeSource {
	return &fakeSource{latest: map[string][]Series{}, points: map[string]map[int][]Point{}}
}

func toLabels(m map[string]string) []Label {
	var ls []Label
	for _, k := range slices.Sorted(maps.Keys(m)) {
		ls = append(ls, Label{Name: k, Value: m[k]})
	}
	return ls
}

func (f *fakeSource) index(metric string, labels map[string]string) int {
	ls := toLabels(labels)
	for i, s := range f.latest[metric] {
		if slices.Equal(s.Labels, ls) {
			return i
		}
	}
	f.latest[metric] = append(f.latest[metric], Series{Labels: ls, Ref: uint64(len(f.latest[metric]))})
	if f.points[metric] == nil {
		f.points[metric] = map[int][]Point{}
	}
	return len(f.latest[metric]) - 1
}

// set records a sample of the series at t.
func (f *fakeSource) set(t time.Time, metric string, labels map[string]string, v float64) {
	i := f.index(metric, labels)
	f.latest[metric][i].Value, f.latest[metric][i].Stale = v, false
	f.points[metric][i] = append(f.points[metric][i], Point{Time: t, Value: v})
}

// stale marks the series as having no current data.
func (f *fakeSource) stale(metric string, labels map[string]string) {
	f.latest[metric][f.index(metric, labels)].Stale = true
}

// remove drops the series from the source altogether.
func (f *fakeSource) remove(metric string, labels map[string]string) {
	i := f.index(metric, labels)
	f.latest[metric] = slices.Delete(f.latest[metric], i, i+1)
	delete(f.points[metric], i)
	// Refs are indexes: rebuild them.
	ps := map[int][]Point{}
	for j := range f.latest[metric] {
		old := int(f.latest[metric][j].Ref)
		ps[j] = f.points[metric][old]
		f.latest[metric][j].Ref = uint64(j)
	}
	f.points[metric] = ps
}

func (f *fakeSource) Latest(metric string) []Series { return f.latest[metric] }

func (f *fakeSource) Window(metric string, s Series, from, to time.Time, buf []Point) []Point {
	for _, p := range f.points[metric][int(s.Ref)] {
		if p.Time.After(from) && !p.Time.After(to) {
			buf = append(buf, p)
		}
	}
	return buf
}

// t0 is a fixed start for every test.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

const step = 10 * time.Second

// harness drives an engine with an injected clock, one collection every
// step, and keeps every notification it handed out.
type harness struct {
	t    *testing.T
	cfg  Config
	e    *Engine
	src  *fakeSource
	now  time.Time
	sent []api.Notification
}

func newHarness(t *testing.T, dir string, rules ...api.AlertRule) *harness {
	t.Helper()
	h := &harness{t: t, src: newFakeSource(), now: t0}
	h.cfg = Config{StateDir: dir, Clock: func() time.Time { return h.now }, Host: "web1", HostID: "abc123",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Interval: step}
	h.start(rules...)
	return h
}

// start (re)creates the engine from the state directory, as an agent
// restart does.
func (h *harness) start(rules ...api.AlertRule) {
	h.t.Helper()
	e, err := New(h.cfg)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	if err := e.SetRules(rules); err != nil {
		h.t.Fatalf("SetRules: %v", err)
	}
	h.e = e
}

// set records metric{labels} = v at the current time.
func (h *harness) set(metric string, labels map[string]string, v float64) {
	h.src.set(h.now, metric, labels, v)
}

// eval evaluates at the current time, saves as the daemon would after
// enqueueing, advances the clock by one step and returns the notifications.
func (h *harness) eval() []api.Notification {
	h.t.Helper()
	ns, err := h.e.Evaluate(h.now, h.src)
	if err != nil {
		h.t.Fatalf("Evaluate at %s: %v", h.now.Sub(t0), err)
	}
	if err := h.e.Save(); err != nil {
		h.t.Fatalf("Save: %v", err)
	}
	h.sent = append(h.sent, ns...)
	h.now = h.now.Add(step)
	return ns
}

// runDisk sets disk_used_percent{labels} to each value in turn and
// evaluates after each.
func (h *harness) runDisk(labels map[string]string, values ...float64) {
	h.t.Helper()
	for _, v := range values {
		h.set("disk_used_percent", labels, v)
		h.eval()
	}
}

// runDiskAt is runDisk that returns each notification handed out as
// "<time since t0> channel:state".
func (h *harness) runDiskAt(labels map[string]string, values ...float64) []string {
	h.t.Helper()
	var out []string
	for _, v := range values {
		h.set("disk_used_percent", labels, v)
		at := h.now.Sub(t0)
		for _, s := range sentStates(h.eval()) {
			out = append(out, at.String()+" "+s)
		}
	}
	return out
}

// states returns the state of each alert of rule, by labels string.
func (h *harness) state(rule string) string {
	obs := h.e.RuleStatus(rule)
	var parts []string
	for _, a := range obs.Alerts {
		parts = append(parts, a.State)
	}
	if len(parts) == 0 {
		return api.AlertInactive
	}
	return strings.Join(parts, ",")
}

// sentStates lists the notifications handed out as "channel:state", one per
// alert, repeats marked.
func sentStates(ns []api.Notification) []string {
	var out []string
	for _, n := range ns {
		for _, a := range n.Alerts {
			s := n.Channel + ":" + a.State
			if n.IsRepeat {
				s += "(repeat)"
			}
			out = append(out, s)
		}
	}
	return out
}

// transitions lists the history as "from>to".
func transitions(ts []api.AlertTransition) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.From+">"+t.To)
	}
	return out
}

func diskRule() api.AlertRule {
	return api.AlertRule{
		Name: "disk_full", Metric: "disk_used_percent", Op: ">", Threshold: 90,
		For: "30s", Channels: []string{"ops"}, Severity: "critical",
	}
}

var root = map[string]string{"mountpoint": "/"}

func ptr[T any](v T) *T { return &v }
