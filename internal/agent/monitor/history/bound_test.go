package history

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Past the series limit, new series are refused and counted, the ones
// already in keep their samples, and a series that stopped frees its place
// at the next block. Roll-ups keep the series with the most data.
func TestStore_seriesLimit(t *testing.T) {
	t.Parallel()
	opt := tieredOptions
	opt.MaxSeries = 3
	s, _ := openTest(t, t.TempDir(), opt)
	dev := func(names ...string) func(int, time.Time) []Sample {
		return func(i int, _ time.Time) []Sample {
			var out []Sample
			for _, n := range names {
				out = append(out, Sample{Name: "node_network_receive_bytes_total", Labels: Labels{{"device", n}}, Value: float64(i)})
			}
			return out
		}
	}
	// One hour with five interfaces: three get in, two are refused.
	run(t, s, nil, t0, 10*time.Second, 360, dev("eth0", "eth1", "eth2", "veth1", "veth2"))
	st := s.Status()
	if st.Series != 3 || st.RefusedSeries != 2 || st.DroppedSamples != 2*360 {
		t.Fatalf("status: %d series, %d refused, %d dropped samples; want 3, 2, 720", st.Series, st.RefusedSeries, st.DroppedSamples)
	}
	got, err := s.Query(Query{Name: "node_network_receive_bytes_total", Start: t0, End: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Labels.Get("device") != "eth0" || len(got[2].Points) != 360 {
		t.Fatalf("query: %d series, want eth0–eth2 with every sample", len(got))
	}
	// Next hour: eth2 is gone, veth3 appears and finds its place.
	run(t, s, nil, t0.Add(time.Hour), 10*time.Second, 360, dev("eth0", "eth1", "veth3"))
	if st := s.Status(); st.Series != 3 || st.RefusedSeries != 0 {
		t.Fatalf("second block: %d series, %d refused; want 3, 0", st.Series, st.RefusedSeries)
	}
	// Third hour: the 3 h minute block sees four series, keeps three.
	run(t, s, nil, t0.Add(2*time.Hour), 10*time.Second, 361, dev("eth0", "eth1", "veth3"))
	if st := s.Status(); st.DroppedRollupSeries != 1 {
		t.Fatalf("%d series dropped from roll-ups, want 1 (eth2, with the fewest samples)", st.DroppedRollupSeries)
	}
	got, err = s.Query(Query{Name: "node_network_receive_bytes_total", Start: t0, End: t0.Add(3*time.Hour - time.Second), Step: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, g := range got {
		kept = append(kept, g.Labels.Get("device"))
	}
	if strings.Join(kept, ",") != "eth0,eth1,veth3" {
		t.Errorf("roll-up kept %v, want eth0, eth1, veth3", kept)
	}
	// Invalid samples are rejected and counted, never stored.
	long := strings.Repeat("x", MaxKeyBytes)
	if err := s.Append(t0.Add(4*time.Hour), []Sample{{Name: "", Value: 1}, {Name: "a", Labels: Labels{{"l", long}}}, {Name: "a", Labels: Labels{{"l", "1"}, {"l", "2"}}}}); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.RejectedSamples != 3 {
		t.Errorf("%d rejected samples, want 3", st.RejectedSamples)
	}
}

// Simulated 430 days, with series that compress badly among them: the
// store never exceeds its stated bound, each tier holds at most its
// retention plus a block, and the size stops growing once the hour tier is
// full.
func TestStore_boundedOver400Days(t *testing.T) {
	t.Parallel()
	opt := Options{Interval: time.Minute, MaxSeries: 4, noSync: true}
	s, _ := openTest(t, memDir(t), opt)
	lay, _ := resolve(opt)
	rng := rand.New(rand.NewPCG(5, 6))
	var c float64
	gen := func(i int, _ time.Time) []Sample {
		c += float64(rng.IntN(1 << 20))
		return []Sample{
			{Name: "steward_noise", Value: rng.NormFloat64()}, // incompressible
			{Name: "steward_total", Value: c},
			{Name: "steward_gauge", Value: math.Round(100*math.Sin(float64(i)/50)) / 100},
			{Name: "steward_const", Value: 1},
		}
	}
	const days = 430
	sizes := make([]int64, days)
	for d := 0; d < days; d++ {
		run(t, s, nil, t0.Add(time.Duration(d)*24*time.Hour), time.Minute, 1440, func(i int, ts time.Time) []Sample { return gen(d*1440+i, ts) })
		st := s.Status()
		sizes[d] = st.BytesOnDisk
		if st.BytesOnDisk > st.Bound {
			t.Fatalf("day %d: %d bytes on disk, over the bound %d", d, st.BytesOnDisk, st.Bound)
		}
		now := t0.Add(time.Duration(d+1)*24*time.Hour - time.Minute)
		for i, ts := range st.Tiers {
			if ts.Blocks > lay.tiers[i].maxBlocks() {
				t.Fatalf("day %d: tier %s has %d blocks, over %d", d, ts.Name, ts.Blocks, lay.tiers[i].maxBlocks())
			}
			if ts.Blocks > 0 && ts.Oldest.Before(now.Add(-ts.Retention-ts.BlockSpan)) {
				t.Fatalf("day %d: tier %s keeps data from %s, older than its retention", d, ts.Name, ts.Oldest)
			}
		}
	}
	// Once every tier is full (400 days + one hour block), the size only
	// moves by the blocks that come and go.
	var early, late int64
	for d := 417; d < 423; d++ {
		early = max(early, sizes[d])
	}
	for d := 423; d < days; d++ {
		late = max(late, sizes[d])
	}
	hourBlock := s.Status().Tiers[tierHour].Bytes / int64(s.Status().Tiers[tierHour].Blocks)
	if late > early+hourBlock {
		t.Errorf("size still growing after 417 days: %d then %d bytes", early, late)
	}
	t.Logf("size after %d days: %s (bound %s)", days, fmtBytes(sizes[days-1]), fmtBytes(s.Status().Bound))

	got, err := s.Query(Query{Name: "steward_const", Start: t0, End: t0.Add(days * 24 * time.Hour), Step: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if first := got[0].Points[0].T; first.Before(t0.Add((days-400-16)*24*time.Hour)) || first.After(t0.Add((days-400)*24*time.Hour)) {
		t.Errorf("the oldest day served is %s: want about 400 days back", first)
	}
}

// MaxBytes is a hard cap: the oldest blocks go first, and Status counts them.
func TestStore_maxBytes(t *testing.T) {
	t.Parallel()
	const limit = 200 << 10
	opt := Options{Interval: time.Minute, MaxSeries: 4, MaxBytes: limit, noSync: true}
	s, _ := openTest(t, memDir(t), opt)
	rng := rand.New(rand.NewPCG(7, 8))
	for d := 0; d < 40; d++ {
		run(t, s, nil, t0.Add(time.Duration(d)*24*time.Hour), time.Minute, 1440, func(int, time.Time) []Sample {
			return []Sample{{Name: "steward_noise", Value: rng.NormFloat64()}, {Name: "steward_noise2", Value: rng.NormFloat64()}}
		})
		// The cap is kept after each block is sealed: the head's log grows
		// until the next one, by at most one block's worth.
		if st := s.Status(); st.BytesOnDisk > limit+maxWALBytes(4, 60) {
			t.Fatalf("day %d: %d bytes, over the cap %d", d, st.BytesOnDisk, limit)
		}
	}
	st := s.Status()
	if st.EvictedBlocks == 0 || st.Limit != limit {
		t.Errorf("evicted %d blocks, limit %d: want evictions under %d", st.EvictedBlocks, st.Limit, limit)
	}
	// About one minute block a day goes; a roll-up rebuilt from raw data
	// after its eviction (and evicted again at every seal) would be 24.
	if st.EvictedBlocks > 3*40 {
		t.Errorf("evicted %d blocks in 40 days: evicted roll-ups are being rebuilt", st.EvictedBlocks)
	}
}

func fmtBytes(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
