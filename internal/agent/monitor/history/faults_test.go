package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// faultFS is the real file system with a switch that makes it behave as a
// full disk: a write stores half its bytes and fails with ENOSPC, as a
// write that runs out of space part way does, and fsync fails.
type faultFS struct {
	osFS
	full atomic.Bool
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	fl, err := f.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{file: fl, fs: f, name: name}, nil
}

type faultFile struct {
	file
	fs   *faultFS
	name string
}

func (f *faultFile) enospc(op string) error {
	return &os.PathError{Op: op, Path: f.name, Err: syscall.ENOSPC}
}

func (f *faultFile) Write(b []byte) (int, error) {
	if f.fs.full.Load() {
		n, _ := f.file.Write(b[:len(b)/2])
		return n, f.enospc("write")
	}
	return f.file.Write(b)
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	if f.fs.full.Load() {
		n, _ := f.file.WriteAt(b[:len(b)/2], off)
		return n, f.enospc("write")
	}
	return f.file.WriteAt(b, off)
}

func (f *faultFile) Sync() error {
	if f.fs.full.Load() {
		return f.enospc("sync")
	}
	return f.file.Sync()
}

// A full disk: collection goes on in memory, queries see everything,
// Status says so; once space is back the store writes what it held,
// builds the roll-ups it missed, and a restart finds every sample.
func TestStore_diskFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fsys := &faultFS{}
	opt := tieredOptions
	opt.fs = fsys
	s, _ := openTest(t, dir, opt)
	m := model{}
	gen := tieredSeries()
	run(t, s, m, t0, 10*time.Second, 2*360, gen) // 2 h on a healthy disk

	// Full for 5 h less a minute: the first sample once space is back falls
	// inside a block, so the catch-up alone must build the missed roll-ups.
	const fullSamples = 5*360 - 6
	fsys.full.Store(true)
	run(t, s, m, t0.Add(2*time.Hour), 10*time.Second, fullSamples, func(i int, ts time.Time) []Sample { return gen(i+720, ts) })
	st := s.Status()
	if !strings.Contains(st.DiskError, "no space left on device") || st.DiskErrorSince.IsZero() {
		t.Fatalf("status while full: disk error %q since %v, want ENOSPC", st.DiskError, st.DiskErrorSince)
	}
	if st.PendingBytes == 0 {
		t.Fatal("status while full: no pending bytes, but 5 sealed hours could not be written")
	}
	end := t0.Add(2*time.Hour + fullSamples*10*time.Second)
	checkRaw := func(s *Store, when string, start time.Time) {
		t.Helper()
		got, err := s.Query(Query{Name: "steward_test_total", Start: start, End: end})
		if err != nil {
			t.Fatal(err)
		}
		id := seriesID("steward_test_total", Labels{{"kind", "counter"}})
		if got[0].Resolution != 10*time.Second {
			t.Fatalf("%s: served at %s, want raw", when, got[0].Resolution)
		}
		comparePoints(t, when, got[0].Points, m.expectPoints(id, start, end, 10*time.Second, 10*time.Second), true)
	}
	// Retention waits for the disk: all 7 hours are still raw.
	end = end.Add(-10 * time.Second)
	checkRaw(s, "while full", t0)

	fsys.full.Store(false)
	end = end.Add(10 * time.Second)
	run(t, s, m, end, 10*time.Second, 1, func(i int, ts time.Time) []Sample { return gen(i+720+fullSamples, ts) })
	st = s.Status()
	if st.DiskError != "" || st.PendingBytes != 0 {
		t.Fatalf("status after space is back: disk error %q, %d bytes pending", st.DiskError, st.PendingBytes)
	}
	// The 3 h minute blocks of [0, 3h) and [3h, 6h) are built in the catch-up.
	if st.Tiers[tierMinute].Blocks != 2 {
		t.Errorf("%d minute blocks after catching up, want 2", st.Tiers[tierMinute].Blocks)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, rec := openTest(t, dir, tieredOptions)
	if !rec.Clean() {
		t.Errorf("reopen after a full disk: %+v", rec)
	}
	checkRaw(s, "after restart", end.Add(-4*time.Hour))
	got, err := s.Query(Query{Name: "steward_test", Match: []Matcher{{Name: "kind", Value: "gauge"}}, Start: t0, End: t0.Add(6*time.Hour - time.Second), Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	comparePoints(t, "minute tier after restart", got[0].Points, m.expectPoints(seriesID("steward_test", Labels{{"kind", "gauge"}}), t0, t0.Add(6*time.Hour-time.Second), time.Minute, time.Minute), false)
}

// A crash while the disk is full loses only what was never written: the
// log still holds the first block the disk refused.
func TestStore_diskFullCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fsys := &faultFS{}
	opt := tieredOptions
	opt.fs = fsys
	s, _ := openTest(t, dir, opt)
	m := model{}
	run(t, s, m, t0, 10*time.Second, 300, tieredSeries()) // [0, 50 min) in the log
	fsys.full.Store(true)
	run(t, s, nil, t0.Add(50*time.Minute), 10*time.Second, 90, tieredSeries()) // into the next hour
	crash(s)
	fsys.full.Store(false)

	s, _ = openTest(t, dir, tieredOptions)
	got, err := s.Query(Query{Name: "steward_test_total", Start: t0, End: t0.Add(50*time.Minute - time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	id := seriesID("steward_test_total", Labels{{"kind", "counter"}})
	if len(got) != 1 {
		t.Fatal("the samples written before the disk filled are gone")
	}
	comparePoints(t, "before the disk filled", got[0].Points, m.expectPoints(id, t0, t0.Add(50*time.Minute-time.Second), 10*time.Second, 10*time.Second), true)
}

// Blocks held in memory are capped: past MaxPendingBytes the oldest goes.
func TestStore_diskFullPendingCap(t *testing.T) {
	t.Parallel()
	fsys := &faultFS{}
	opt := tieredOptions
	opt.fs, opt.MaxPendingBytes = fsys, 1
	s, _ := openTest(t, t.TempDir(), opt)
	fsys.full.Store(true)
	run(t, s, nil, t0, 10*time.Second, 4*360, tieredSeries())
	st := s.Status()
	if st.LostBlocks != 2 {
		t.Errorf("lost %d blocks, want 2 (4 hours, the newest sealed one kept, one in the head)", st.LostBlocks)
	}
	if st.PendingBytes == 0 || st.PendingBytes > 64<<10 {
		t.Errorf("%d bytes pending, want one block's", st.PendingBytes)
	}
}

// The same on a real, tiny tmpfs: the kernel's ENOSPC, not an imitation.
func TestStore_diskFullTmpfs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=512k,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v; TestStore_diskFull covers this with an injected ENOSPC", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
	s, _ := openTest(t, dir, Options{Raw: 4 * time.Hour, Minute: 48 * time.Hour, Hour: 10 * 24 * time.Hour})
	m := model{}
	gen := tieredSeries()
	run(t, s, m, t0, 10*time.Second, 360, gen)
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, io.LimitReader(zeros{}, 1<<20))
	_ = f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v, want ENOSPC", err)
	}
	run(t, s, m, t0.Add(time.Hour), 10*time.Second, 2*360, func(i int, ts time.Time) []Sample { return gen(i+360, ts) })
	if st := s.Status(); !strings.Contains(st.DiskError, "no space left on device") || st.PendingBytes == 0 {
		t.Fatalf("status on a full tmpfs: %q, %d pending bytes", st.DiskError, st.PendingBytes)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	run(t, s, m, t0.Add(3*time.Hour), 10*time.Second, 1, func(i int, ts time.Time) []Sample { return gen(i+3*360, ts) })
	if st := s.Status(); st.DiskError != "" || st.PendingBytes != 0 {
		t.Fatalf("status once space is back: %q, %d pending bytes", st.DiskError, st.PendingBytes)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = openTest(t, dir, Options{Raw: 4 * time.Hour, Minute: 48 * time.Hour, Hour: 10 * 24 * time.Hour})
	end := t0.Add(3 * time.Hour)
	got, err := s.Query(Query{Name: "steward_test_total", Start: t0, End: end})
	if err != nil {
		t.Fatal(err)
	}
	comparePoints(t, "after restart", got[0].Points, m.expectPoints(seriesID("steward_test_total", Labels{{"kind", "counter"}}), t0, end, 10*time.Second, 10*time.Second), true)
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// A power cut during the last write leaves a log cut anywhere: Open cuts
// the torn record off, keeps every record before it, and appends go on
// after them.
func TestOpen_tornLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, _ := openTest(t, dir, Options{noSync: true})
	m := model{}
	run(t, s, m, t0, 10*time.Second, 40, func(i int, _ time.Time) []Sample {
		return []Sample{{Name: "a", Value: float64(i)}, {Name: "b", Labels: Labels{{"x", fmt.Sprint(i % 3)}}, Value: float64(i)}}
	})
	crash(s)
	log, err := os.ReadFile(filepath.Join(dir, walName))
	if err != nil {
		t.Fatal(err)
	}
	// Scan the log's framing independently of the replay code: where each
	// record ends, and which end a samples record of "a" (series id 0).
	var bounds, aEnds []int64
	for pos := int64(walHeaderSize); pos < int64(len(log)); {
		n := int64(binary.LittleEndian.Uint32(log[pos:]))
		end := pos + walRecHeader + n
		bounds = append(bounds, end)
		// samples payload: slot (one byte here), n (5 bytes), first id.
		if log[pos+8] == recSamples && log[pos+walRecHeader+1+5] == 0 {
			aEnds = append(aEnds, end)
		}
		pos = end
	}
	for cut := int64(walHeaderSize); cut < int64(len(log)); cut += 11 {
		cdir := t.TempDir()
		if err := os.WriteFile(filepath.Join(cdir, walName), log[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		s, rec, err := Open(cdir, Options{noSync: true})
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		if len(rec.Quarantined) != 0 {
			t.Fatalf("cut at %d: a torn tail is not damage, but %+v", cut, rec.Quarantined)
		}
		kept := 0
		for _, e := range aEnds {
			if e <= cut {
				kept++
			}
		}
		if want := cut - lastEnd(bounds, cut); rec.WALTornBytes != want {
			t.Fatalf("cut at %d: torn bytes %d, want %d", cut, rec.WALTornBytes, want)
		}
		got, err := s.Query(Query{Name: "a", Start: t0, End: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		if len(got) == 1 {
			n = len(got[0].Points)
		}
		if n != kept {
			t.Fatalf("cut at %d: %d samples of a recovered, want %d", cut, n, kept)
		}
		// Appends go on after the valid records, and survive a restart.
		if err := s.Append(t0.Add(50*time.Minute), []Sample{{Name: "a", Value: -1}}); err != nil {
			t.Fatal(err)
		}
		crash(s)
		s, rec, err = Open(cdir, Options{noSync: true})
		if err != nil || !rec.Clean() {
			t.Fatalf("cut at %d: reopen: %v %+v", cut, err, rec)
		}
		got, _ = s.Query(Query{Name: "a", Start: t0, End: t0.Add(time.Hour)})
		if len(got) != 1 || len(got[0].Points) != kept+1 || got[0].Points[kept].Last != -1 {
			t.Fatalf("cut at %d: after a new append and restart, a = %+v", cut, got)
		}
		_ = s.Close()
	}
}

func lastEnd(ends []int64, cut int64) int64 {
	last := int64(walHeaderSize)
	for _, e := range ends {
		if e <= cut {
			last = e
		}
	}
	return last
}
