package history

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// copyDir copies the store's files (not its quarantine) to a new directory.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// checkSubset asserts that every point of got is what want has for its
// bucket, or, where damage took part of the bucket's data away, a subset
// of it (fewer samples, within the bucket's range): never a value that was
// not appended.
func checkSubset(t *testing.T, what string, got, want []Point) {
	t.Helper()
	byT := map[int64]Point{}
	for _, w := range want {
		byT[w.T.Unix()] = w
	}
	for _, g := range got {
		w, ok := byT[g.T.Unix()]
		switch {
		case !ok:
			t.Fatalf("%s: point at %s, where nothing was appended: %+v", what, g.T, g)
		case g.Count == w.Count:
			if g.Min != w.Min || g.Max != w.Max || g.Last != w.Last || !near(g.Avg, w.Avg) {
				t.Fatalf("%s: point %+v, want %+v", what, g, w)
			}
		case g.Count > w.Count || g.Min < w.Min || g.Max > w.Max || math.IsNaN(g.Avg):
			t.Fatalf("%s: point %+v is not part of %+v", what, g, w)
		}
	}
}

// A power cut or a bad disk can leave any byte of any file wrong, or a file
// cut short. Open still succeeds, the damage is found (by Open, or by
// Verify for chunks Open does not read), moved aside and reported, and no
// query returns a value that was never appended.
func TestOpen_damage(t *testing.T) {
	t.Parallel()
	golden := t.TempDir()
	s, _ := openTest(t, golden, tieredOptions)
	m := model{}
	run(t, s, m, t0, 10*time.Second, 2*8640+100, tieredSeries())
	crash(s) // keep a log with records in it
	end := t0.Add(2*24*time.Hour + 100*10*time.Second)

	entries, _ := os.ReadDir(golden)
	var files []string
	for _, e := range entries {
		if e.Name() != lockName && e.Type().IsRegular() {
			files = append(files, e.Name())
		}
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for iter := 0; iter < 32; iter++ {
		dir := copyDir(t, golden)
		name := files[rng.IntN(len(files))]
		if iter%10 == 0 {
			name = walName
		}
		path := filepath.Join(dir, name)
		b, _ := os.ReadFile(path)
		off := rng.IntN(len(b))
		if name != walName {
			// Aim at each part in turn, so every checksum is put to work.
			m, err := decodeBlockHeader(b, name, int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			switch iter % 4 {
			case 0:
				off = rng.IntN(blockHeaderSize)
			case 1:
				off = blockHeaderSize + rng.IntN(int(m.tableOff-blockHeaderSize))
			case 2:
				off = int(m.tableOff) + rng.IntN(int(m.tableLen))
			}
		}
		what := ""
		if iter%3 == 0 {
			b = b[:off]
			what = "truncated"
		} else {
			b[off] ^= byte(1 + rng.IntN(255))
			what = "flipped"
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		desc := name + " " + what + " at " + strconv.Itoa(off)

		var events []Quarantined
		opt := tieredOptions
		opt.OnQuarantine = func(q Quarantined) { events = append(events, q) }
		s, rec, err := Open(dir, opt)
		if err != nil {
			t.Fatalf("%s: Open: %v", desc, err)
		}
		found, err := s.Verify()
		if err != nil {
			t.Fatalf("%s: Verify: %v", desc, err)
		}
		reported := rec.WALTornBytes > 0 || len(rec.Quarantined) > 0 || len(found) > 0
		if !reported {
			t.Fatalf("%s: damage not found (recovery %+v)", desc, rec)
		}
		for _, q := range append(rec.Quarantined, found...) {
			if q.File != name || q.Reason == "" {
				t.Errorf("%s: quarantined %+v", desc, q)
			}
			if q.MovedTo != "" {
				if _, err := os.Stat(filepath.Join(dir, q.MovedTo)); err != nil {
					t.Errorf("%s: moved to %s, but: %v", desc, q.MovedTo, err)
				}
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) && q.File != walName {
				t.Errorf("%s: still in place after quarantine", desc)
			}
		}
		if len(events) != len(rec.Quarantined)+len(found) {
			t.Errorf("%s: %d quarantine events for %d quarantined files", desc, len(events), len(rec.Quarantined)+len(found))
		}
		for _, q := range []struct {
			metric string
			ls     Labels
			start  time.Time
			step   time.Duration
		}{
			{"steward_test_total", Labels{{"kind", "counter"}}, end.Add(-3 * time.Hour), 10 * time.Second},
			{"steward_test", Labels{{"kind", "gauge"}}, end.Add(-48 * time.Hour), time.Minute},
			{"steward_test", Labels{{"kind", "gappy"}}, t0, time.Hour},
		} {
			got, err := s.Query(Query{Name: q.metric, Match: []Matcher{{Name: "kind", Value: q.ls.Get("kind")}}, Start: q.start, End: end, Step: q.step})
			if err != nil {
				t.Fatalf("%s: query: %v", desc, err)
			}
			for _, g := range got {
				want := m.expectPoints(seriesID(q.metric, q.ls), q.start, end, max(q.step, g.Resolution), g.Resolution)
				checkSubset(t, desc+": "+q.metric, g.Points, want)
			}
		}
		// The store goes on: appends and a clean reopen.
		run(t, s, nil, end.Add(time.Hour), 10*time.Second, 2, tieredSeries())
		if err := s.Close(); err != nil {
			t.Fatalf("%s: Close: %v", desc, err)
		}
		s, rec, err = Open(dir, tieredOptions)
		if err != nil || len(rec.Quarantined) != 0 {
			t.Fatalf("%s: second Open: %v %+v", desc, err, rec)
		}
		_ = s.Close()
	}
}

// Files full of garbage, empty, or cut inside their header: each is moved
// aside, Open reports it, and a new store starts in their place. Files the
// store did not make are left alone; its unfinished temporary files go.
func TestOpen_garbage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	valid := validBlock(t)
	files := map[string][]byte{
		walName:                  garbage(4096),
		"raw-1740960000.blk":     garbage(10000),
		"minute-1740960000.blk":  nil,
		"hour-1740960000.blk":    valid[:blockHeaderSize-1],
		"raw-1740963600.blk":     append(bytes.Clone(valid), 0), // one byte too long
		"notes.txt":              []byte("not ours"),
		tempPrefix + "raw-1.blk": garbage(100),
		"raw-0123.blk":           []byte("not a name the store makes: ignored"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var events []string
	s, rec, err := Open(dir, Options{noSync: true, OnQuarantine: func(q Quarantined) { events = append(events, q.File) }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() { _ = s.Close() }()
	var moved []string
	for _, q := range rec.Quarantined {
		moved = append(moved, q.File)
		if !strings.Contains(q.Reason, "damaged") {
			t.Errorf("%s: reason %q", q.File, q.Reason)
		}
	}
	slices.Sort(moved)
	want := []string{"hour-1740960000.blk", "minute-1740960000.blk", "raw-1740960000.blk", "raw-1740963600.blk", walName}
	if !slices.Equal(moved, want) {
		t.Errorf("quarantined %v, want %v", moved, want)
	}
	slices.Sort(events)
	if !slices.Equal(events, want) {
		t.Errorf("quarantine events %v, want %v", events, want)
	}
	if rec.RemovedTempFiles != 1 {
		t.Errorf("removed %d temporary files, want 1", rec.RemovedTempFiles)
	}
	for _, keep := range []string{"notes.txt", "raw-0123.blk"} {
		if b, err := os.ReadFile(filepath.Join(dir, keep)); err != nil || !bytes.Equal(b, files[keep]) {
			t.Errorf("%s was touched: %v", keep, err)
		}
	}
	q, _ := os.ReadDir(filepath.Join(dir, quarantineDir))
	if len(q) != keepQuarantined {
		t.Errorf("%d files kept in quarantine, want the newest %d", len(q), keepQuarantined)
	}
	// A new store: it takes samples and answers.
	run(t, s, nil, t0, 10*time.Second, 3, func(i int, _ time.Time) []Sample { return []Sample{{Name: "up", Value: 1}} })
	got, err := s.Query(Query{Name: "up", Start: t0, End: t0.Add(time.Minute)})
	if err != nil || len(got) != 1 || len(got[0].Points) != 3 {
		t.Fatalf("new store: %+v %v", got, err)
	}
}

// validBlock returns the bytes of a small, valid raw block.
func validBlock(t *testing.T) []byte {
	t.Helper()
	h := newHead(1740960000, 10, 360)
	hs, err := h.addSeries(string(appendKey(nil, "up", nil)))
	if err != nil {
		t.Fatal(err)
	}
	hs.add(0, 1)
	b, err := h.seal()
	if err != nil {
		t.Fatal(err)
	}
	return b.mem
}
