package history

import (
	"math"
	"os"
	"slices"
	"testing"
	"time"
)

// t0 is where simulated time starts: a Monday, midnight UTC, so days and
// block spans line up with it.
var t0 = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

// memDir is a temporary directory on tmpfs where there is one: simulated
// years seal tens of thousands of blocks, and creating files on a disk
// costs far more than the store's own work.
func memDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "history-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func openTest(t testing.TB, dir string, opt Options) (*Store, Recovery) {
	t.Helper()
	s, rec, err := Open(dir, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, rec
}

// crash stops a store the way a power cut would: nothing more is written,
// descriptors are dropped, the lock is released.
func crash(s *Store) {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	_ = s.wal.close()
	if s.lock != nil {
		_ = s.lock.Close()
	}
}

// refSample is what the reference model remembers of one Append.
type refSample struct {
	t int64 // unix seconds
	v float64
}

// model records every sample appended, to compute expected answers.
type model map[string][]refSample // by Labels.String() of series "name"+labels

func seriesID(name string, ls Labels) string { return name + ls.String() }

func (m model) add(ts time.Time, samples []Sample) {
	for _, s := range samples {
		ls, _ := normalizeLabels(s.Labels, nil)
		id := seriesID(s.Name, ls)
		m[id] = append(m[id], refSample{ts.Unix(), s.Value})
	}
}

// run appends n samples sets, one per interval from start, through gen,
// into both the store and the model.
func run(t testing.TB, s *Store, m model, start time.Time, interval time.Duration, n int, gen func(i int, ts time.Time) []Sample) {
	t.Helper()
	for i := 0; i < n; i++ {
		ts := start.Add(time.Duration(i) * interval)
		smp := gen(i, ts)
		if err := s.Append(ts, smp); err != nil {
			t.Fatalf("Append at %s: %v", ts, err)
		}
		if m != nil {
			m.add(ts, smp)
		}
	}
}

// expectPoints aggregates the model's samples of id in [start, end] into
// step buckets, as Query must. cellRes is the resolution of the tier cells
// the window is read from: a sample belongs to the window when the start of
// its cell does.
func (m model) expectPoints(id string, start, end time.Time, step, cellRes time.Duration) []Point {
	var out []Point
	var cur *Point
	prev, started := 0.0, false
	stepS, resS := int64(step/time.Second), int64(cellRes/time.Second)
	for _, x := range m[id] {
		ct := floorDiv(x.t, resS) * resS
		if ct < start.Unix() || ct > end.Unix() || math.IsNaN(x.v) {
			continue
		}
		b := floorDiv(x.t, stepS) * stepS
		if cur == nil || cur.T.Unix() != b {
			out = append(out, Point{T: unixTime(b), Min: math.Inf(1), Max: math.Inf(-1)})
			cur = &out[len(out)-1]
		}
		if started {
			if x.v >= prev {
				cur.Increase += x.v - prev
			} else {
				cur.Increase += x.v
			}
		}
		prev, started = x.v, true
		cur.Count++
		cur.Min, cur.Max = math.Min(cur.Min, x.v), math.Max(cur.Max, x.v)
		cur.Avg += x.v // a sum until the end
		cur.Last = x.v
	}
	for i := range out {
		out[i].Avg /= float64(out[i].Count)
	}
	return out
}

// expectRawP95 is the nearest-rank 95th percentile of the raw samples.
func (m model) expectRawP95(id string, start, end time.Time) float64 {
	var vs []float64
	for _, x := range m[id] {
		if x.t >= start.Unix() && x.t <= end.Unix() && !math.IsNaN(x.v) {
			vs = append(vs, x.v)
		}
	}
	slices.Sort(vs)
	return vs[int(math.Ceil(0.95*float64(len(vs))))-1]
}

func near(a, b float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// comparePoints checks got against want, exactly for counts, min, max and
// last, to rounding for sums (the order of additions differs by tier).
// Increase is compared for counters only: it is defined for them (a gauge
// that drops twice within one roll-up cell is not a counter's reset).
func comparePoints(t *testing.T, what string, got, want []Point, counter bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d points, want %d (first got %+v, want %+v)", what, len(got), len(want), first(got), first(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.T.Equal(w.T) || g.Count != w.Count || g.Min != w.Min || g.Max != w.Max || g.Last != w.Last ||
			!near(g.Avg, w.Avg) || (counter && !near(g.Increase, w.Increase)) {
			t.Fatalf("%s: point %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func first(ps []Point) any {
	if len(ps) == 0 {
		return nil
	}
	return ps[0]
}
