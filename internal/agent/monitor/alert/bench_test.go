//go:build unix

package alert

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// benchSource holds 500 series (10 metrics of 50) with 5 minutes of points
// at a 10 s interval, and serves windows without allocating, as the
// history store's adapter should.
type benchSource struct {
	latest map[string][]Series
	points [][]Point // by Ref
}

func newBenchSource(now time.Time) *benchSource {
	src := &benchSource{latest: map[string][]Series{}}
	for m := range 10 {
		metric := fmt.Sprintf("bench_metric_%d", m)
		for s := range 50 {
			ref := uint64(len(src.points))
			var pts []Point
			for i := 30; i > 0; i-- {
				pts = append(pts, Point{Time: now.Add(-time.Duration(i-1) * step), Value: float64(s*10 + i)})
			}
			src.points = append(src.points, pts)
			src.latest[metric] = append(src.latest[metric], Series{
				Labels: []Label{{"device", fmt.Sprintf("sd%c", 'a'+s%26)}, {"instance", fmt.Sprintf("i%d", s)}, {"job", "node"}},
				Value:  pts[len(pts)-1].Value, Ref: ref,
			})
		}
	}
	return src
}

func (b *benchSource) Latest(metric string) []Series { return b.latest[metric] }

func (b *benchSource) Window(_ string, s Series, from, to time.Time, buf []Point) []Point {
	pts := b.points[s.Ref]
	i := sort.Search(len(pts), func(i int) bool { return pts[i].Time.After(from) })
	j := sort.Search(len(pts), func(j int) bool { return pts[j].Time.After(to) })
	return append(buf, pts[i:j]...)
}

// benchRules are 100 rules, ten per metric, every one aggregating a
// 5-minute window; a third select by a regular expression. firing of them
// have a threshold every series exceeds, so they hold one firing alert per
// series (steady state: no transitions).
func benchRules(firing int) []api.AlertRule {
	aggs := []string{"avg", "max", "min", "last", "rate", "increase"}
	var rules []api.AlertRule
	for i := range 100 {
		r := api.AlertRule{
			Name: fmt.Sprintf("rule_%03d", i), Metric: fmt.Sprintf("bench_metric_%d", i%10),
			Aggregation: aggs[i%len(aggs)], Window: "5m", Op: ">", Threshold: 1e12, For: "1m",
			Channels: []string{"ops"}, Annotations: map[string]string{"summary": "{{ .Labels.device }} is {{ .Value }}"},
		}
		if i%3 == 0 {
			r.Matchers = []api.LabelMatcher{{Label: "device", Op: "=~", Value: "sd[a-m]"}}
		}
		if i < firing {
			r.Threshold, r.For = -1, ""
		}
		rules = append(rules, r)
	}
	return rules
}

func benchmarkEvaluate(b *testing.B, firing int) {
	now := t0
	src := newBenchSource(now)
	e, err := New(Config{Interval: step, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.SetRules(benchRules(firing)); err != nil {
		b.Fatal(err)
	}
	// Bring the firing rules to their steady state first.
	for range 8 {
		if _, err := e.Evaluate(now, src); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if _, err := e.Evaluate(now, src); err != nil {
			b.Fatal(err)
		}
	}
	// The CPU the process used per evaluation: on a shared machine ns/op
	// also counts the time other processes had the core.
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvaluate: 100 rules over 500 series with a 5-minute window, as
// every host runs every 10 s.
func BenchmarkEvaluate(b *testing.B) {
	b.Run("quiet", func(b *testing.B) { benchmarkEvaluate(b, 0) })
	b.Run("10_rules_firing", func(b *testing.B) { benchmarkEvaluate(b, 10) })
}
