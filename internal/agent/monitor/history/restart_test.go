package history

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A restart in the middle of an interval, cleanly or by a power cut, loses
// nothing Append returned from; a sample repeated across the restart is
// counted once.
func TestStore_restartMidInterval(t *testing.T) {
	t.Parallel()
	for _, stop := range []struct {
		name string
		stop func(*Store)
	}{
		{"close", func(s *Store) { _ = s.Close() }},
		{"power cut", crash},
	} {
		t.Run(stop.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, _ := openTest(t, dir, Options{})
			m := model{}
			gen := func(i int, _ time.Time) []Sample {
				return []Sample{{Name: "node_load1", Value: float64(i) / 100}}
			}
			// Collection ticks jitter by a few milliseconds around the interval.
			start := t0.Add(20*time.Minute + 3*time.Millisecond)
			run(t, s, m, start, 10*time.Second, 100, gen)
			stop.stop(s)

			s, rec := openTest(t, dir, Options{})
			if rec.WALRecords != 101 || len(rec.Quarantined) != 0 {
				t.Fatalf("recovery %+v, want 101 records replayed (a series and 100 samples)", rec)
			}
			// The first collection after the restart repeats the last time.
			last := start.Add(99 * 10 * time.Second)
			if err := s.Append(last.Add(-4*time.Millisecond), []Sample{{Name: "node_load1", Value: 42}}); err != nil {
				t.Fatal(err)
			}
			if st := s.Status(); st.OutOfOrderSamples != 1 {
				t.Errorf("%d out-of-order samples, want the repeated one", st.OutOfOrderSamples)
			}
			run(t, s, m, last.Add(10*time.Second), 10*time.Second, 100, func(i int, ts time.Time) []Sample { return gen(i+100, ts) })
			end := last.Add(100 * 10 * time.Second)
			got, err := s.Query(Query{Name: "node_load1", Start: t0, End: end})
			if err != nil {
				t.Fatal(err)
			}
			want := m.expectPoints(seriesID("node_load1", nil), t0, end, 10*time.Second, 10*time.Second)
			for i := range want {
				// Slot times are the sample times rounded to the interval.
				want[i].T = want[i].T.Round(10 * time.Second)
			}
			comparePoints(t, "across the restart", got[0].Points, want, true)
		})
	}
}

// An agent down for longer than a block, or restarted with another
// interval, carries on: the old head becomes a block and roll-ups are
// built for what was missed.
func TestStore_restartLater(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, _ := openTest(t, dir, tieredOptions)
	m := model{}
	gen := tieredSeries()
	run(t, s, m, t0.Add(2*time.Hour), 10*time.Second, 180, gen) // 02:00–02:30
	crash(s)

	// Back at 05:00 (the 3 h minute block of 00:00–03:00 is due) with a 30 s interval.
	opt := tieredOptions
	opt.Interval = 30 * time.Second
	s, _ = openTest(t, dir, opt)
	run(t, s, m, t0.Add(5*time.Hour), 30*time.Second, 120, func(i int, ts time.Time) []Sample { return gen(i+180, ts) })
	st := s.Status()
	if st.Tiers[tierMinute].Blocks != 1 {
		t.Errorf("%d minute blocks, want the one for 00:00–03:00", st.Tiers[tierMinute].Blocks)
	}
	id := seriesID("steward_test_total", Labels{{"kind", "counter"}})
	got, err := s.Query(Query{Name: "steward_test_total", Start: t0.Add(2 * time.Hour), End: t0.Add(6 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// 10 s points before the stop, 30 s after.
	want := m.expectPoints(id, t0.Add(2*time.Hour), t0.Add(6*time.Hour), 10*time.Second, 10*time.Second)
	comparePoints(t, "before and after", got[0].Points, want, true)

	// Roll-ups agree with both intervals' samples.
	got, err = s.Query(Query{Name: "steward_test_total", Start: t0, End: t0.Add(3*time.Hour - time.Second), Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	comparePoints(t, "minute tier", got[0].Points, m.expectPoints(id, t0, t0.Add(3*time.Hour-time.Second), time.Minute, time.Minute), true)
}

// Two processes must not write one store: the second Open fails and says why.
func TestOpen_lockedByAnother(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openTest(t, dir, Options{})
	if _, _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "another agent") {
		t.Fatalf("second Open: %v, want a lock error", err)
	}
}

// The rpc side reads while the daemon writes: it sees what was appended
// and synced before it opened, and never changes the store.
func TestOpenReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, _ := openTest(t, dir, tieredOptions)
	m := model{}
	run(t, s, m, t0, 10*time.Second, 8640, tieredSeries())

	r, err := OpenReadOnly(dir, tieredOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	end := t0.Add(24*time.Hour - 10*time.Second)
	for _, st := range []*Store{s, r} {
		got, err := st.Summary(Query{Name: "steward_test_total", Start: end.Add(-time.Hour), End: end})
		if err != nil || len(got) != 1 || got[0].Count != 361 || !got[0].LastT.Equal(end) {
			t.Fatalf("summary %+v %v, want 361 samples to %s", got, err, end)
		}
	}
	if err := r.Append(end, nil); err != ErrReadOnly {
		t.Errorf("Append on a read-only store: %v", err)
	}
	// The writer goes on, seals blocks and drops old ones; the reader's
	// queries still answer from what it has.
	run(t, s, nil, end.Add(10*time.Second), 10*time.Second, 3*360, tieredSeries())
	if _, err := r.Query(Query{Name: "steward_test", Start: t0, End: end, Step: time.Hour}); err != nil {
		t.Fatalf("read-only query after the writer moved on: %v", err)
	}
}

// Queries, summaries and Status run while Append seals blocks and builds
// roll-ups (run it with -race): each answer is whole, none fails.
func TestStore_concurrentReaders(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t, t.TempDir(), tieredOptions)
	done := make(chan struct{})
	errs := make(chan error, 3)
	for r := 0; r < 3; r++ {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				st := s.Status()
				end := t0.Add(30 * time.Hour)
				if _, err := s.Query(Query{Name: "steward_test", Start: t0, End: end, Step: time.Minute}); err != nil {
					errs <- err
					return
				}
				if _, err := s.Summary(Query{Name: "steward_test_total", Start: end.Add(-time.Hour), End: end}); err != nil {
					errs <- err
					return
				}
				if _, err := s.Latest("steward_test_total", nil); err != nil {
					errs <- err
					return
				}
				if st.QuarantinedTotal != 0 {
					errs <- errors.New("a block was found damaged: " + st.Quarantined[0].Reason)
					return
				}
			}
		}()
	}
	run(t, s, nil, t0, 10*time.Second, 30*360, tieredSeries())
	close(done)
	for r := 0; r < 3; r++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
