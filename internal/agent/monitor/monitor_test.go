package monitor

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/collect"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/history"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestMonitor_collectsAndServesThePage: collections of this machine's
// /proc fill the history, /metrics serves the last one as it was made, and
// the status page draws every chart with points.
func TestMonitor_collectsAndServesThePage(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	h, _, err := history.Open(t.TempDir(), history.Options{Interval: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	clock := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	var handed int
	m, err := New(core.Deps{Paths: p, Now: now}, api.Monitoring{Interval: "10s"}, Options{History: h,
		After: []AfterCollect{func(_ context.Context, at time.Time, _ []collect.Sample) {
			// The scheduled time, not when the collection ended: the rule
			// engine's `for` counts these.
			if !at.Equal(clock) {
				t.Errorf("collection handed on at %s, want its scheduled time %s", at, clock)
			}
			handed++
		}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := m.collectOnce(context.Background(), nil, clock); err != nil {
			t.Fatalf("collect: %v", err)
		}
		mu.Lock()
		clock = clock.Add(10 * time.Second)
		mu.Unlock()
	}
	if handed != 30 {
		t.Errorf("handed on %d collections, want 30", handed)
	}
	if st := h.Status(); st.Series == 0 || st.DiskError != "" {
		t.Errorf("history after 30 collections: %+v", st)
	}
	fams, _ := m.Gather()
	if len(fams) == 0 {
		t.Fatal("Gather serves nothing after 30 collections")
	}
	mux := http.NewServeMux()
	m.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?window=1h", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, id := range []string{"cpu", "memory", "disk", "network", "load"} {
		mm := regexp.MustCompile(`data-chart="` + id + `" data-points="(\d+)"`).FindStringSubmatch(body)
		if mm == nil {
			t.Errorf("no %s chart on the page", id)
			continue
		}
		if n, _ := strconv.Atoi(mm[1]); n < 2 {
			t.Errorf("the %s chart has %d points, want at least 2", id, n)
		}
	}
	if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'none'") {
		t.Error("the page has no content security policy")
	}
}

// TestMonitor_summaries: what steward_metrics reads, from the history.
func TestMonitor_summaries(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	h, _, err := history.Open(t.TempDir(), history.Options{Interval: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	clock := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m, err := New(core.Deps{Paths: p, Now: func() time.Time { return clock }}, api.Monitoring{}, Options{History: h})
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if err := m.collectOnce(context.Background(), nil, clock); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(10 * time.Second)
	}
	res, err := m.Summaries(api.MetricsQueryParams{Window: "1h", Select: map[string]api.MetricSelector{
		"load": {Name: "node_load1"},
		"root": {Name: "node_filesystem_avail_bytes", Labels: map[string]string{"mountpoint": "/"}},
		"none": {Name: "no_such_metric"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if l := res.Results["load"]; len(l) != 1 || l[0].Samples != 6 || l[0].Max < l[0].Min {
		t.Errorf("load: %+v, want one series of 6 samples", l)
	}
	if r := res.Results["root"]; len(r) != 1 || r[0].Last <= 0 || r[0].Labels["mountpoint"] != "/" {
		t.Errorf("root: %+v, want the root file system's free bytes", r)
	}
	if n, ok := res.Results["none"]; !ok || len(n) != 0 {
		t.Errorf("none: %+v (present %v), want an empty list", n, ok)
	}
	if res.HostID != coretest.MachineID {
		t.Errorf("host id %q", res.HostID)
	}
	var ae *api.Error
	if _, err := m.Summaries(api.MetricsQueryParams{Window: "soon", Select: map[string]api.MetricSelector{"x": {Name: "1bad"}}}); !errors.As(err, &ae) || ae.Code != api.CodeBadRequest {
		t.Errorf("a bad query: %v, want bad_request", err)
	}
}
