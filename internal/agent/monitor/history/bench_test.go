package history

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// hostSeries imitates a host's default metric set, about 500 series with
// the value shapes node_exporter and the agent produce: CPU seconds in
// 1/100 s steps, byte counters, page-sized memory and file system gauges
// that move slowly, constants (sizes, totals, unit states, error counters
// that stay 0), load averages with two decimals, and collector durations,
// which are noise and do not compress.
type hostSeries struct {
	rng    *rand.Rand
	series []hostSerie
	out    []Sample
}

type hostSerie struct {
	name   string
	labels Labels
	kind   int // hsCounterCs, hsCounterInt, hsPages, hsConst, hsTwoDec, hsNoise, hsClock
	v      float64
	rate   float64
}

const (
	hsCounterCs = iota
	hsCounterInt
	hsPages
	hsConst
	hsTwoDec
	hsNoise
	hsClock
)

func newHostSeries(n int) *hostSeries {
	h := &hostSeries{rng: rand.New(rand.NewPCG(42, 42))}
	add := func(name string, kind int, v, rate float64, ls ...string) {
		var labels Labels
		for i := 0; i+1 < len(ls); i += 2 {
			labels = append(labels, Label{ls[i], ls[i+1]})
		}
		h.series = append(h.series, hostSerie{name: name, labels: labels, kind: kind, v: v, rate: rate})
	}
	modes := []string{"idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"}
	for cpu := 0; cpu < 16; cpu++ {
		for i, m := range modes {
			rate := []float64{9.5, 0.05, 0, 0, 0.02, 0, 0.2, 0.3}[i]
			add("node_cpu_seconds_total", hsCounterCs, 1e5, rate, "cpu", fmt.Sprint(cpu), "mode", m)
		}
	}
	for i := 0; i < 60; i++ {
		kind := hsPages
		if i%4 == 0 {
			kind = hsConst
		}
		add(fmt.Sprintf("node_memory_F%d_bytes", i), kind, float64(1<<30+i*4096*1000), 0)
	}
	for _, mnt := range []string{"/", "/boot", "/var", "/home", "/srv", "/var/lib/steward"} {
		for i, f := range []string{"avail_bytes", "free_bytes", "size_bytes", "files", "files_free", "readonly", "device_error"} {
			kind := []int{hsPages, hsPages, hsConst, hsConst, hsPages, hsConst, hsConst}[i]
			add("node_filesystem_"+f, kind, 5e10, 0, "mountpoint", mnt, "fstype", "ext4")
		}
	}
	for _, dev := range []string{"vda", "vdb", "sda", "dm-0"} {
		for i := 0; i < 17; i++ {
			kind := []int{hsCounterInt, hsCounterInt, hsConst, hsCounterCs}[i%4]
			add(fmt.Sprintf("node_disk_f%d_total", i), kind, 1e9, float64(1+i*100), "device", dev)
		}
	}
	for _, dev := range []string{"eth0", "eth1", "lo", "docker0", "wg0"} {
		for i := 0; i < 16; i++ {
			kind := hsConst // errs, drops, fifo, frame, compressed...
			if i < 4 {
				kind = hsCounterInt // bytes and packets, both ways
			}
			add(fmt.Sprintf("node_network_f%d_total", i), kind, 1e10, float64(1000+i*5000), "device", dev)
		}
	}
	for _, l := range []string{"node_load1", "node_load5", "node_load15"} {
		add(l, hsTwoDec, 0.5, 0)
	}
	for i := 0; i < 30; i++ {
		add(fmt.Sprintf("node_misc_%d", i), []int{hsCounterInt, hsTwoDec, hsConst}[i%3], 1e6, 200)
	}
	add("node_time_seconds", hsClock, 1.74e9, 0)
	for i := 0; i < 15; i++ {
		c := fmt.Sprint("collector", i)
		add("steward_collector_duration_seconds", hsNoise, 0.001, 0, "collector", c)
		add("steward_collector_success", hsConst, 1, 0, "collector", c)
	}
	for i := 0; i < 20; i++ {
		add(fmt.Sprintf("process_go_%d", i), []int{hsPages, hsCounterCs}[i%2], 2e7, 0.001)
	}
	for u := 0; u < 10; u++ {
		for _, st := range []string{"active", "activating", "deactivating", "failed", "inactive"} {
			v := 0.0
			if st == "active" {
				v = 1
			}
			add("node_systemd_unit_state", hsConst, v, 0, "name", fmt.Sprint("unit", u, ".service"), "state", st)
		}
	}
	for len(h.series) < n {
		add(fmt.Sprintf("custom_metric_%d", len(h.series)), hsTwoDec, 100, 0)
	}
	h.series = h.series[:n]
	h.out = make([]Sample, n)
	return h
}

// next returns the samples of one collection (reused between calls).
func (h *hostSeries) next(ts time.Time) []Sample {
	for i := range h.series {
		s := &h.series[i]
		switch s.kind {
		case hsCounterCs:
			s.v = math.Round((s.v+s.rate*10*(0.5+h.rng.Float64()))*100) / 100
		case hsCounterInt:
			s.v += math.Floor(s.rate * 10 * (0.5 + h.rng.Float64()))
		case hsPages:
			if h.rng.IntN(4) == 0 {
				s.v += float64(4096 * (h.rng.IntN(200) - 100))
			}
		case hsTwoDec:
			s.v = math.Max(0, math.Round((s.v+h.rng.NormFloat64()*0.05)*100)/100)
		case hsNoise:
			s.v = 0.0005 + h.rng.ExpFloat64()*0.002
		case hsClock:
			s.v = float64(ts.UnixMilli()) / 1000
		}
		h.out[i] = Sample{Name: s.name, Labels: s.labels, Value: s.v}
	}
	return h.out
}

func BenchmarkAppend500(b *testing.B) {
	for _, sync := range []bool{true, false} {
		name := "fsync"
		if !sync {
			name = "nosync"
		}
		b.Run(name, func(b *testing.B) {
			s, _ := openTest(b, b.TempDir(), Options{noSync: !sync})
			h := newHostSeries(500)
			ts := t0
			// Warm up: series created, the log open.
			for i := 0; i < 10; i++ {
				_ = s.Append(ts, h.next(ts))
				ts = ts.Add(10 * time.Second)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Append(ts, h.next(ts)); err != nil {
					b.Fatal(err)
				}
				ts = ts.Add(10 * time.Second)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/500, "ns/sample")
		})
	}
}

// A store with 31 days of the host set, built once for the benchmarks that
// read: it takes a while (2.7 million appends of 500 samples).
var (
	populatedOnce sync.Once
	populatedDir  string
	populatedEnd  time.Time
)

func populated(b *testing.B) string {
	populatedOnce.Do(func() {
		dir, err := os.MkdirTemp("/dev/shm", "history-bench-")
		if err != nil {
			dir, err = os.MkdirTemp("", "history-bench-")
			if err != nil {
				b.Fatal(err)
			}
		}
		s, _, err := Open(dir, Options{noSync: true})
		if err != nil {
			b.Fatal(err)
		}
		h := newHostSeries(500)
		ts := t0
		for i := 0; i < 31*8640; i++ {
			if err := s.Append(ts, h.next(ts)); err != nil {
				b.Fatal(err)
			}
			ts = ts.Add(10 * time.Second)
		}
		populatedEnd = ts.Add(-10 * time.Second)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		populatedDir = dir
	})
	return populatedDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if populatedDir != "" {
		_ = os.RemoveAll(populatedDir)
	}
	os.Exit(code)
}

func BenchmarkQuery(b *testing.B) {
	dir := populated(b)
	s, err := OpenReadOnly(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	end := populatedEnd
	cases := []struct {
		name string
		q    Query
	}{
		{"1h/one-series/raw", Query{Name: "node_load1", Start: end.Add(-time.Hour), End: end}},
		{"1h/128-cpu-series/1m", Query{Name: "node_cpu_seconds_total", Start: end.Add(-time.Hour), End: end, Step: time.Minute}},
		{"30d/one-series/1h", Query{Name: "node_load1", Start: end.Add(-30 * 24 * time.Hour), End: end, Step: time.Hour}},
		{"30d/one-series/10m", Query{Name: "node_load1", Start: end.Add(-30 * 24 * time.Hour), End: end, Step: 10 * time.Minute}},
		{"30d/128-cpu-series/1h", Query{Name: "node_cpu_seconds_total", Start: end.Add(-30 * 24 * time.Hour), End: end, Step: time.Hour}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var points int
			for i := 0; i < b.N; i++ {
				got, err := s.Query(c.q)
				if err != nil || len(got) == 0 {
					b.Fatalf("%v %v", got, err)
				}
				points = 0
				for _, g := range got {
					points += len(g.Points)
				}
			}
			b.ReportMetric(float64(points), "points")
		})
	}
	for _, c := range []struct {
		name string
		q    Query
	}{
		{"5m/one-series", Query{Name: "node_load1", Start: end.Add(-5 * time.Minute), End: end}},
		{"5m/128-cpu-series", Query{Name: "node_cpu_seconds_total", Start: end.Add(-5 * time.Minute), End: end}},
		{"30d/one-series", Query{Name: "node_load1", Start: end.Add(-30 * 24 * time.Hour), End: end}},
	} {
		b.Run("summary/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if got, err := s.Summary(c.q); err != nil || len(got) == 0 {
					b.Fatalf("%v %v", got, err)
				}
			}
		})
	}
}

// BenchmarkBytesPerDay reports what the host set takes on disk per day in
// each tier, and the steady state that the default retentions give.
func BenchmarkBytesPerDay(b *testing.B) {
	dir := populated(b)
	s, err := OpenReadOnly(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		_ = s.Status()
	}
	st := s.Status()
	perDay := func(tier int) float64 {
		t := st.Tiers[tier]
		if tier == tierRaw {
			return float64(t.Bytes-s.walBytes) / float64(t.Blocks) * 24
		}
		return float64(t.Bytes) / float64(t.Blocks) / t.BlockSpan.Hours() * 24
	}
	raw, minute, hour := perDay(tierRaw), perDay(tierMinute), perDay(tierHour)
	b.ReportMetric(raw, "raw-B/day")
	b.ReportMetric(minute, "minute-B/day")
	b.ReportMetric(hour, "hour-B/day")
	// Each tier at its retention plus one block, plus a full log.
	steady := raw*(49.0/24) + minute*31 + hour*(400+16) + float64(maxWALBytes(0, 0))
	b.ReportMetric(steady/(1<<20), "steady-MiB")
	b.ReportMetric(float64(st.Bound)/(1<<20), "bound-MiB")
}

// BenchmarkMemory500 reports the heap a store holds with 500 series after
// an hour and a half: a full head, the newest sealed block, the series.
func BenchmarkMemory500(b *testing.B) {
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, _, err := Open(b.TempDir(), Options{noSync: true})
		if err != nil {
			b.Fatal(err)
		}
		h := newHostSeries(500)
		ts := t0
		for j := 0; j < 360+359; j++ {
			_ = s.Append(ts, h.next(ts))
			ts = ts.Add(10 * time.Second)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc), "heap-B")
		runtime.KeepAlive(h)
		_ = s.Close()
	}
}
