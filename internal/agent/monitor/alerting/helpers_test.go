package alerting

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/alert"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/collect"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/history"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// writeSpec writes an object's spec file as the lifecycle would.
func writeSpec(t *testing.T, p core.Paths, dir, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	file := p.ObjectFile(dir, name)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// openHistory opens a store at the test interval under the host's state directory.
func openHistory(t *testing.T, p core.Paths) *history.Store {
	t.Helper()
	st, _, err := history.Open(filepath.Join(p.StateDir, "history"), history.Options{Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// collectAt stores samples at t and hands them to a, as the monitor does.
func collectAt(t *testing.T, a *Alerting, hist *history.Store, at time.Time, samples ...collect.Sample) {
	t.Helper()
	if hist != nil {
		if err := hist.Append(at, historySamples(samples...)); err != nil {
			t.Fatal(err)
		}
	}
	a.AfterCollect(t.Context(), at, samples)
}

func sample(name string, v float64, labels ...string) collect.Sample {
	s := collect.Sample{Name: name, Value: v}
	for i := 0; i+1 < len(labels); i += 2 {
		s.Labels = append(s.Labels, collect.Label{Name: labels[i], Value: labels[i+1]})
	}
	return s
}

// newAlerting builds the alerting of a fixture host at interval, with
// clock c, and loads its configuration.
func newAlerting(t *testing.T, c *clock, hist *history.Store, p core.Paths) *Alerting {
	t.Helper()
	a, err := New(core.Deps{Paths: p, Now: c.Now}, api.Monitoring{Interval: interval.String()}, hist)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.reload(); err != nil {
		t.Fatal(err)
	}
	specs, err := a.loadChannels()
	if err == nil {
		err = a.notifier.SetChannels(specs)
	}
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// queued returns the notifications waiting in channel ops's queue on disk.
func queued(t *testing.T, p core.Paths) []api.Notification {
	t.Helper()
	dir := filepath.Join(p.StateDir, "notify", "channels", "ops", "queue")
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []api.Notification
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var q struct {
			Notification api.Notification `json:"notification"`
		}
		if err := json.Unmarshal(b, &q); err != nil {
			t.Fatalf("queue file %s: %v", e.Name(), err)
		}
		out = append(out, q.Notification)
	}
	return out
}

type collectSample = collect.Sample

func historySamples(samples ...collect.Sample) []history.Sample {
	out := make([]history.Sample, 0, len(samples))
	for _, s := range samples {
		ls := history.Labels{}
		for _, l := range s.Labels {
			ls = append(ls, history.Label{Name: l.Name, Value: l.Value})
		}
		out = append(out, history.Sample{Name: s.Name, Labels: ls, Value: s.Value})
	}
	return out
}

func labelString(ls []alert.Label) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, l.Name+"="+l.Value)
	}
	return strings.Join(parts, ",")
}
