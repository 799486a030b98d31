package monitor

import (
	"context"
	"math"
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
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// memHistory keeps every collection in memory and answers Range from it:
// the unit tests' stand-in for the history store.
type memHistory struct {
	mu   sync.Mutex
	at   []time.Time
	sets [][]collect.Sample
}

func (h *memHistory) Append(t time.Time, s []collect.Sample) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.at, h.sets = append(h.at, t), append(h.sets, s)
	return nil
}

func (h *memHistory) Range(name string, match map[string]string, start, end time.Time, step time.Duration) ([]Series, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	byKey := map[string]*Series{}
	var keys []string
	for i, t := range h.at {
		if t.Before(start) || t.After(end) {
			continue
		}
		for _, s := range h.sets[i] {
			if s.Name != name || !matches(s, match) {
				continue
			}
			key := labelKey(s)
			se, ok := byKey[key]
			if !ok {
				se = &Series{Labels: map[string]string{}}
				for _, l := range s.Labels {
					se.Labels[l.Name] = l.Value
				}
				byKey[key], keys = se, append(keys, key)
			}
			bucket := start.Add(t.Sub(start) / step * step)
			if n := len(se.Points); n > 0 && se.Points[n-1].T.Equal(bucket) {
				p := &se.Points[n-1]
				p.Min, p.Max, p.Last = math.Min(p.Min, s.Value), math.Max(p.Max, s.Value), s.Value
				p.Avg = (p.Avg + s.Value) / 2
				continue
			}
			se.Points = append(se.Points, Point{T: bucket, Min: s.Value, Avg: s.Value, Max: s.Value, Last: s.Value})
		}
	}
	out := make([]Series, 0, len(keys))
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	return out, nil
}

func matches(s collect.Sample, match map[string]string) bool {
	for k, v := range match {
		if s.Label(k) != v {
			return false
		}
	}
	return true
}

func labelKey(s collect.Sample) string {
	var b strings.Builder
	for _, l := range s.Labels {
		b.WriteString(l.Name + "=" + l.Value + ",")
	}
	return b.String()
}

// TestMonitor_collectsAndServesThePage: collections of this machine's
// /proc fill the history, /metrics serves the last one as it was made, and
// the status page draws every chart with points.
func TestMonitor_collectsAndServesThePage(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	h := &memHistory{}
	clock := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	var handed int
	m, err := New(core.Deps{Paths: p, Now: now}, api.Monitoring{Interval: "10s"}, Options{Store: h, History: h,
		After: []AfterCollect{func(context.Context, time.Time, []collect.Sample) { handed++ }}})
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := m.collectOnce(context.Background(), nil); err != nil {
			t.Fatalf("collect: %v", err)
		}
		mu.Lock()
		clock = clock.Add(10 * time.Second)
		mu.Unlock()
	}
	if handed != 30 || len(h.at) != 30 {
		t.Errorf("handed on %d and stored %d collections, want 30 each", handed, len(h.at))
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
