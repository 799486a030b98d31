package history

import (
	"math"
	"testing"
	"time"
)

// tieredOptions shrink the retentions so that a few simulated days cross
// every tier: raw 4 h (3 h minute blocks), minute 2 days (1-day hour
// blocks), hour 10 days.
var tieredOptions = Options{Raw: 4 * time.Hour, Minute: 48 * time.Hour, Hour: 10 * 24 * time.Hour, noSync: true}

// tieredSeries makes a counter that resets to 0 every 25,000 samples, a
// gauge, and a series with gaps and NaN samples.
func tieredSeries() func(i int, ts time.Time) []Sample {
	var c float64
	return func(i int, _ time.Time) []Sample {
		if i%25000 == 0 {
			c = 0
		} else {
			c += float64(i%5 + 1)
		}
		out := []Sample{
			{Name: "steward_test_total", Labels: Labels{{"kind", "counter"}}, Value: c},
			{Name: "steward_test", Labels: Labels{{"kind", "gauge"}}, Value: 50 + math.Round(1000*math.Sin(float64(i)/100))/1000},
		}
		if (i/50)%3 != 0 {
			v := float64(i % 13)
			if i%97 == 0 {
				v = math.NaN()
			}
			out = append(out, Sample{Name: "steward_test", Labels: Labels{{"kind", "gappy"}}, Value: v})
		}
		return out
	}
}

func TestQuery_acrossTiers(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t, t.TempDir(), tieredOptions)
	m := model{}
	const days = 5
	run(t, s, m, t0, 10*time.Second, days*8640, tieredSeries())
	end := t0.Add(days * 24 * time.Hour) // data runs to end - 10 s
	counter := Labels{{"kind", "counter"}}

	tests := []struct {
		name       string
		metric     string
		labels     Labels
		start, end time.Time
		step       time.Duration
		wantRes    time.Duration
		cellRes    time.Duration
	}{
		{"raw, native step", "steward_test_total", counter, end.Add(-2 * time.Hour), end, 0, 10 * time.Second, 10 * time.Second},
		{"raw, 1m step", "steward_test", Labels{{"kind", "gauge"}}, end.Add(-3 * time.Hour), end, time.Minute, 10 * time.Second, 10 * time.Second},
		{"minute tier", "steward_test_total", counter, end.Add(-30 * time.Hour), end.Add(-6*time.Hour - time.Second), time.Minute, time.Minute, time.Minute},
		{"minute tier, gaps and NaN", "steward_test", Labels{{"kind", "gappy"}}, end.Add(-30 * time.Hour), end.Add(-6*time.Hour - time.Second), 5 * time.Minute, time.Minute, time.Minute},
		{"hour tier stitched to minute and raw", "steward_test_total", counter, end.Add(-4 * 24 * time.Hour), end, time.Hour, time.Hour, time.Hour},
		{"hour tier, 3h step", "steward_test", Labels{{"kind", "gauge"}}, end.Add(-4 * 24 * time.Hour), end, 3 * time.Hour, time.Hour, time.Hour},
		{"minute step over the hour tier's span is served by minute", "steward_test", Labels{{"kind", "gappy"}}, end.Add(-40 * time.Hour), end, 10 * time.Minute, time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Query(Query{Name: tt.metric, Match: []Matcher{{Name: "kind", Value: tt.labels.Get("kind")}}, Start: tt.start, End: tt.end, Step: tt.step})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d series, want 1", len(got))
			}
			if got[0].Resolution != tt.wantRes {
				t.Errorf("served at %s, want %s", got[0].Resolution, tt.wantRes)
			}
			step := max(tt.step, tt.wantRes)
			comparePoints(t, tt.name, got[0].Points, m.expectPoints(seriesID(tt.metric, tt.labels), tt.start, tt.end, step, tt.cellRes), tt.metric == "steward_test_total")
		})
	}

	t.Run("summary from raw has the exact p95", func(t *testing.T) {
		start := end.Add(-2 * time.Hour)
		got, err := s.Summary(Query{Name: "steward_test", Start: start, End: end})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d series, want 2", len(got))
		}
		for _, g := range got {
			id := seriesID(g.Name, g.Labels)
			if want := m.expectRawP95(id, start, end); g.P95 != want {
				t.Errorf("%s p95 = %v, want %v", id, g.P95, want)
			}
			if g.Resolution != 10*time.Second {
				t.Errorf("%s served at %s", id, g.Resolution)
			}
		}
	})

	t.Run("summary across tiers", func(t *testing.T) {
		start := end.Add(-4 * 24 * time.Hour)
		got, err := s.Summary(Query{Name: "steward_test_total", Start: start, End: end})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%d series, want 1", len(got))
		}
		g := got[0]
		pts := m.expectPoints(seriesID("steward_test_total", counter), start, end, 400*24*time.Hour, time.Hour)
		w := pts[0]
		if g.Count != w.Count || g.Min != w.Min || g.Max != w.Max || g.Last != w.Last || !near(g.Avg, w.Avg) || !near(g.Increase, w.Increase) {
			t.Fatalf("summary %+v, want %+v", g, w)
		}
		if !g.LastT.Equal(end.Add(-10*time.Second)) || !g.FirstT.Equal(start) {
			t.Errorf("first/last %s..%s, want %s..%s", g.FirstT, g.LastT, start, end.Add(-10*time.Second))
		}
		if want := g.Increase / g.LastT.Sub(g.FirstT).Seconds(); !near(g.Rate, want) {
			t.Errorf("rate %v, want %v", g.Rate, want)
		}
		if g.Resolution != time.Hour {
			t.Errorf("served at %s, want 1h", g.Resolution)
		}
		// p95 from roll-ups: each cell's average weighted by its count,
		// cells as the window was read: hours up to the minute tier's
		// horizon (end - 1 day), minutes up to raw's (end - 3 h), then raw.
		var cells []weighted
		add := func(from, to time.Time, res time.Duration) {
			pts := m.expectPoints(seriesID("steward_test_total", counter), from, to.Add(-time.Second), res, res)
			for _, p := range pts {
				cells = append(cells, weighted{p.Avg, float64(p.Count)})
			}
		}
		add(start, end.Add(-24*time.Hour), time.Hour)
		add(end.Add(-24*time.Hour), end.Add(-3*time.Hour), time.Minute)
		add(end.Add(-3*time.Hour), end.Add(time.Second), 10*time.Second)
		if want := weightedQuantile(cells, 0.95); !near(g.P95, want) {
			t.Errorf("p95 %v, want %v", g.P95, want)
		}
		if g.P95 > g.Max || g.P95 < g.Min {
			t.Errorf("p95 %v outside [%v, %v]", g.P95, g.Min, g.Max)
		}
	})

	t.Run("retention", func(t *testing.T) {
		st := s.Status()
		last := end.Add(-10 * time.Second)
		for _, ts := range st.Tiers {
			if ts.Blocks == 0 {
				t.Fatalf("tier %s empty", ts.Name)
			}
			if oldest := last.Add(-ts.Retention - ts.BlockSpan); ts.Oldest.Before(oldest) {
				t.Errorf("tier %s reaches back to %s, before %s (retention %s + one block)", ts.Name, ts.Oldest, oldest, ts.Retention)
			}
		}
		if st.Tiers[tierRaw].Oldest.After(last.Add(-4 * time.Hour)) {
			t.Errorf("raw tier starts at %s: keeps less than its 4 h", st.Tiers[tierRaw].Oldest)
		}
		if st.Tiers[tierMinute].Oldest.After(last.Add(-48 * time.Hour)) {
			t.Errorf("minute tier starts at %s: keeps less than its 2 days", st.Tiers[tierMinute].Oldest)
		}
		got, err := s.Query(Query{Name: "steward_test_total", Start: t0.Add(-24 * time.Hour), End: end, Step: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if p := got[0].Points[0]; !p.T.Equal(t0) || got[0].Resolution != time.Hour {
			t.Errorf("the hour tier keeps everything from %s: first point %+v at %s", t0, p, got[0].Resolution)
		}
	})
}

func TestQuery_matchers(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t, t.TempDir(), Options{noSync: true})
	run(t, s, nil, t0, 10*time.Second, 30, func(i int, _ time.Time) []Sample {
		return []Sample{
			{Name: "node_filesystem_avail_bytes", Labels: Labels{{"mountpoint", "/"}, {"fstype", "ext4"}}, Value: 1},
			{Name: "node_filesystem_avail_bytes", Labels: Labels{{"mountpoint", "/boot"}, {"fstype", "vfat"}}, Value: 2},
			{Name: "node_filesystem_avail_bytes", Labels: Labels{{"mountpoint", "/var"}, {"fstype", "ext4"}}, Value: 3},
			{Name: "node_filesystem_size_bytes", Labels: Labels{{"mountpoint", "/"}, {"fstype", "ext4"}}, Value: 4},
		}
	})
	tests := []struct {
		name  string
		match []Matcher
		want  []float64 // Last of each series, in label order: fstype sorts first
	}{
		{"all of the name", nil, []float64{1, 3, 2}},
		{"equal", []Matcher{{Name: "mountpoint", Value: "/"}}, []float64{1}},
		{"not equal", []Matcher{{Name: "fstype", Type: MatchNotEqual, Value: "ext4"}}, []float64{2}},
		{"regexp is anchored", []Matcher{{Name: "mountpoint", Type: MatchRegexp, Value: "/(boot|var)"}}, []float64{3, 2}},
		{"regexp prefix only", []Matcher{{Name: "mountpoint", Type: MatchRegexp, Value: "/b"}}, nil},
		{"not regexp", []Matcher{{Name: "mountpoint", Type: MatchNotRegexp, Value: "/.+"}}, []float64{1}},
		{"missing label is empty", []Matcher{{Name: "device", Value: ""}}, []float64{1, 3, 2}},
		{"two matchers", []Matcher{{Name: "fstype", Value: "ext4"}, {Name: "mountpoint", Type: MatchNotEqual, Value: "/"}}, []float64{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Query(Query{Name: "node_filesystem_avail_bytes", Match: tt.match, Start: t0, End: t0.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			var lasts []float64
			for _, g := range got {
				if len(g.Points) != 30 {
					t.Errorf("%v: %d points, want 30", g.Labels, len(g.Points))
				}
				lasts = append(lasts, g.Points[len(g.Points)-1].Last)
			}
			if len(lasts) != len(tt.want) {
				t.Fatalf("got series with values %v, want %v", lasts, tt.want)
			}
			for i := range lasts {
				if lasts[i] != tt.want[i] {
					t.Fatalf("got series with values %v, want %v", lasts, tt.want)
				}
			}
		})
	}
	if _, err := s.Query(Query{Name: "x", Match: []Matcher{{Name: "a", Type: MatchRegexp, Value: "("}}, Start: t0, End: t0}); err == nil {
		t.Error("a bad regexp must be an error")
	}
	if _, err := s.Query(Query{Name: "x", Start: t0, End: t0.Add(400 * 24 * time.Hour), Step: 10 * time.Second}); err == nil {
		t.Error("more than MaxPoints points per series must be an error")
	}
}

func TestLatest(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t, t.TempDir(), Options{noSync: true})
	// "live" reports throughout, into a second block; the others stopped
	// more than LatestLookback before its last sample.
	run(t, s, nil, t0.Add(30*time.Minute), 10*time.Second, 400, func(i int, ts time.Time) []Sample {
		out := []Sample{{Name: "m", Labels: Labels{{"s", "live"}}, Value: float64(i)}}
		if ts.Before(t0.Add(40 * time.Minute)) {
			out = append(out, Sample{Name: "m", Labels: Labels{{"s", "gone"}}, Value: 1})
		}
		if ts.Before(t0.Add(time.Hour)) {
			out = append(out, Sample{Name: "m", Labels: Labels{{"s", "recent"}}, Value: 2})
		}
		return out
	})
	last := t0.Add(30*time.Minute + 399*10*time.Second) // 01:36:30: the others are stale
	got, err := s.Latest("m", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"live": 399}
	if len(got) != len(want) {
		t.Fatalf("latest = %+v, want only live", got)
	}
	for _, v := range got {
		if v.Value != want[v.Labels.Get("s")] || !v.T.Equal(last) {
			t.Errorf("latest %+v, want %v at %s", v, want[v.Labels.Get("s")], last)
		}
	}
	// Within the lookback, the newest sample in the sealed block counts.
	s2, _ := openTest(t, t.TempDir(), Options{noSync: true})
	run(t, s2, nil, t0.Add(58*time.Minute), 10*time.Second, 24, func(i int, ts time.Time) []Sample {
		out := []Sample{{Name: "m", Labels: Labels{{"s", "live"}}, Value: float64(i)}}
		if ts.Before(t0.Add(time.Hour)) {
			out = append(out, Sample{Name: "m", Labels: Labels{{"s", "recent"}}, Value: 2})
		}
		return out
	})
	got, err = s2.Latest("m", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Labels.Get("s") != "recent" || got[1].Value != 2 || !got[1].T.Equal(t0.Add(time.Hour-10*time.Second)) {
		t.Errorf("latest = %+v, want live and recent (2 at %s)", got, t0.Add(time.Hour-10*time.Second))
	}
}
