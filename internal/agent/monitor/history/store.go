package history

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// ErrClosed is returned by a Store used after Close.
var ErrClosed = errors.New("history store closed")

// ErrReadOnly is returned by Append on a store opened with OpenReadOnly.
var ErrReadOnly = errors.New("history store opened read-only")

const (
	tempPrefix    = atomicfile.TempPrefix
	lockName      = "LOCK"
	quarantineDir = "quarantine"
	// keepQuarantined is how many damaged files are kept for a person to
	// look at; older ones are deleted, so damage cannot fill the disk.
	keepQuarantined = 3
	// keepRecentQuarantines is how many Status lists.
	keepRecentQuarantines = 8
)

// Sample is one value of one series at the time given to Append. Counters
// are stored as their raw value; queries compute increases and rates.
type Sample struct {
	Name   string
	Labels Labels // any order; empty values are dropped
	Value  float64
}

// Quarantined is a damaged file moved aside.
type Quarantined struct {
	File    string `json:"file"`
	MovedTo string `json:"moved_to,omitempty"` // empty when it could not be moved (read-only store)
	Reason  string `json:"reason"`
}

// Recovery is what Open found and repaired. The daemon logs an event for
// each quarantined file.
type Recovery struct {
	// Quarantined lists damaged files moved aside; the store opened without
	// them.
	Quarantined []Quarantined
	// WALTornBytes is the length of a torn last write cut off the log (the
	// Append in progress when the power went).
	WALTornBytes int64
	// WALRecords is how many log records were replayed into memory.
	WALRecords int
	// RemovedTempFiles counts unfinished writes from before a crash.
	RemovedTempFiles int
}

// Clean reports whether Open found nothing to repair.
func (r Recovery) Clean() bool {
	return len(r.Quarantined) == 0 && r.WALTornBytes == 0 && r.RemovedTempFiles == 0
}

// Store is the agent's metric history. Its methods are safe for concurrent
// use; Appends are serialised.
type Store struct {
	dir      string
	lay      layout
	fs       fileSystem
	readOnly bool
	lock     file

	appendMu sync.Mutex // serialises Append and the disk work it does
	wal      *walFile   // nil while the log does not match the head
	walBuf   walEncoder
	keyBuf   []byte
	lblBuf   Labels // scratch for sorting a sample's labels

	mu     sync.RWMutex // guards what follows
	closed bool
	head   *head
	blocks [numTiers][]*blockMeta // by start; blocks not yet on disk are in memory
	now    int64                  // the newest sample time, unix seconds
	// walBytes is the log's size, for Status (the log itself is appendMu's).
	walBytes int64
	stats    counters
	// diskErr is the last write failure while the disk refuses writes.
	diskErr      error
	diskErrSince time.Time
	quarantined  []Quarantined
}

type counters struct {
	droppedSamples, rejectedSamples, outOfOrder int64
	droppedRollupSeries, evictedBlocks          int64
	lostBlocks, quarantinedTotal                int64
}

// Open opens the store in dir, creating it if needed, and repairs what a
// crash or damage left: a torn last log write is cut off, damaged files are
// moved to dir/quarantine (Recovery says which and why), and unfinished
// temporary files are removed. It fails only when dir cannot be used at all
// (it cannot be created, or another process holds the store).
func Open(dir string, opt Options) (*Store, Recovery, error) {
	lay, err := resolve(opt)
	if err != nil {
		return nil, Recovery{}, err
	}
	s := &Store{dir: dir, lay: lay, fs: lay.opt.fs}
	if err := s.fs.MkdirAll(filepath.Join(dir, quarantineDir), 0o700); err != nil {
		return nil, Recovery{}, fmt.Errorf("create history store %s: %w", dir, err)
	}
	if err := s.takeLock(); err != nil {
		return nil, Recovery{}, err
	}
	rec, err := s.load()
	if err != nil {
		_ = s.lock.Close()
		return nil, rec, err
	}
	return s, rec, nil
}

// OpenReadOnly opens the store in dir as it is now, for a process that only
// queries (the rpc side) while the daemon keeps writing it. It repairs
// nothing: damaged files are skipped and listed in Status. Append fails.
func OpenReadOnly(dir string, opt Options) (*Store, error) {
	lay, err := resolve(opt)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, lay: lay, fs: lay.opt.fs, readOnly: true}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) takeLock() error {
	f, err := s.fs.OpenFile(filepath.Join(s.dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open history store lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return fmt.Errorf("lock history store %s (another agent has it open?): %w", s.dir, err)
	}
	s.lock = f
	return nil
}

// load reads the directory: blocks (header and table checked), then the log.
func (s *Store) load() (Recovery, error) {
	var rec Recovery
	entries, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return rec, fmt.Errorf("read history store %s: %w", s.dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tempPrefix):
			if !s.readOnly {
				if err := s.fs.Remove(filepath.Join(s.dir, name)); err == nil {
					rec.RemovedTempFiles++
				}
			}
		case e.Type().IsRegular():
			if _, _, ok := parseBlockName(name); !ok {
				continue
			}
			m, err := verifyBlockFile(s.fs, s.dir, name)
			if err != nil {
				rec.Quarantined = append(rec.Quarantined, s.quarantine(name, err))
				continue
			}
			s.blocks[m.tier] = append(s.blocks[m.tier], &m)
		}
	}
	for t := range s.blocks {
		slices.SortFunc(s.blocks[t], func(a, b *blockMeta) int { return cmpInt(a.start, b.start) })
		if n := len(s.blocks[t]); n > 0 {
			s.now = max(s.now, s.blocks[t][n-1].end()-1)
		}
	}
	if err := s.loadWAL(&rec); err != nil {
		return rec, err
	}
	if s.head != nil {
		for _, hs := range s.head.byID {
			s.now = max(s.now, s.head.start+int64(hs.lastSlot)*s.head.res)
		}
	}
	return rec, nil
}

func (s *Store) loadWAL(rec *Recovery) error {
	path := filepath.Join(s.dir, walName)
	data, err := readAll(s.fs, path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		// Unreadable: treat as damage rather than refuse to open.
		rec.Quarantined = append(rec.Quarantined, s.quarantine(walName, err))
		return nil
	}
	hdr, err := decodeWALHeader(data)
	if err != nil {
		rec.Quarantined = append(rec.Quarantined, s.quarantine(walName, err))
		return nil
	}
	h := newHead(hdr.start, hdr.res, hdr.slots)
	r := replayWAL(data, h)
	rec.WALRecords = r.records
	if s.readOnly {
		s.head = h
		return nil
	}
	for _, b := range s.blocks[tierRaw] {
		if b.start == h.start {
			// The block was written but the log not yet replaced when the
			// agent stopped: the log is stale.
			h = nil
			break
		}
	}
	switch {
	case r.damage != nil:
		rec.Quarantined = append(rec.Quarantined, s.quarantineCopy(walName, data, r.damage))
	case r.torn > 0:
		rec.WALTornBytes = r.torn
	}
	s.head = h
	if h == nil {
		return s.fs.Remove(path)
	}
	if r.damage == nil && r.torn == 0 {
		f, err := s.fs.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open history log: %w", err)
		}
		s.wal = &walFile{fsys: s.fs, dir: s.dir, f: f, size: int64(len(data)), noSync: s.lay.opt.noSync}
		return nil
	}
	// Rewrite the log from what was read, so appends follow valid records.
	w, err := writeWAL(s.fs, s.dir, h.walImage(), s.lay.opt.noSync)
	if err != nil {
		s.setDiskErr(err)
		return nil
	}
	s.wal = w
	return nil
}

// quarantine moves a damaged file aside (a read-only store only notes it).
func (s *Store) quarantine(name string, why error) Quarantined {
	q := Quarantined{File: name, Reason: why.Error()}
	if !s.readOnly {
		to := filepath.Join(quarantineDir, fmt.Sprintf("%s.%d", name, time.Now().UnixNano()))
		if err := s.fs.Rename(filepath.Join(s.dir, name), filepath.Join(s.dir, to)); err != nil {
			// Not moved: remove it, so it is not read again.
			_ = s.fs.Remove(filepath.Join(s.dir, name))
		} else {
			q.MovedTo = to
		}
		s.pruneQuarantine()
	}
	s.noteQuarantine(q)
	return q
}

// quarantineCopy keeps a copy of a damaged log whose good part is reused.
func (s *Store) quarantineCopy(name string, data []byte, why error) Quarantined {
	q := Quarantined{File: name, Reason: why.Error()}
	to := filepath.Join(quarantineDir, fmt.Sprintf("%s.%d", name, time.Now().UnixNano()))
	if err := atomicfile.Write(filepath.Join(s.dir, to), data, 0o600); err == nil {
		q.MovedTo = to
	}
	s.pruneQuarantine()
	s.noteQuarantine(q)
	return q
}

func (s *Store) noteQuarantine(q Quarantined) {
	s.stats.quarantinedTotal++
	s.quarantined = append(s.quarantined, q)
	if n := len(s.quarantined); n > keepRecentQuarantines {
		s.quarantined = slices.Delete(s.quarantined, 0, n-keepRecentQuarantines)
	}
	if s.lay.opt.OnQuarantine != nil {
		s.lay.opt.OnQuarantine(q)
	}
}

func (s *Store) pruneQuarantine() {
	dir := filepath.Join(s.dir, quarantineDir)
	entries, err := s.fs.ReadDir(dir)
	if err != nil {
		return
	}
	// Names end in the nanosecond they were moved: the newest sort last
	// among files of the same name, so sort by that suffix.
	stamp := func(n string) string {
		i := strings.LastIndexByte(n, '.')
		return fmt.Sprintf("%020s", n[i+1:])
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(stamp(a), stamp(b)) })
	for len(names) > keepQuarantined {
		_ = s.fs.Remove(filepath.Join(dir, names[0]))
		names = names[1:]
	}
}

// Append records samples taken at t. Samples of series the head has at its
// limit, invalid ones and ones not newer than the series' last are dropped
// and counted in Status. Before it returns, the samples are in the log and
// synced; when the disk refuses, they are kept in memory and Status says so
// (Append does not fail for that: collection goes on). It fails only on a
// closed or read-only store.
func (s *Store) Append(t time.Time, samples []Sample) error {
	if s.readOnly {
		return ErrReadOnly
	}
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	raw := s.lay.tiers[tierRaw]
	res := int64(raw.res / time.Second)
	// Slot times are t rounded to the interval: collection ticks jitter.
	ts := (t.UnixMilli() + res*500) / (res * 1000) * res

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.head != nil && ts < s.head.start {
		// The clock went back past the head: these samples belong to
		// blocks already written. Count and drop them.
		s.stats.outOfOrder += int64(len(samples))
		s.mu.Unlock()
		return nil
	}
	rolled := false
	if s.head == nil || ts >= s.head.end() || s.head.res != res {
		if err := s.sealHeadLocked(); err != nil {
			s.mu.Unlock()
			return err
		}
		span := int64(raw.span / time.Second)
		start := ts / span * span
		if s.head != nil && s.head.res != res && start < s.head.end() {
			start = ts // the interval changed mid-block: start at this sample
		}
		s.head = newHead(start, res, int((start/span*span+span-start)/res))
		rolled = true
	}
	s.walBuf.reset()
	s.addLocked(int((ts-s.head.start)/res), samples)
	s.now = max(s.now, ts)
	s.mu.Unlock()

	s.persist(rolled)
	return nil
}

// addLocked adds samples at slot to the head and encodes their log records.
func (s *Store) addLocked(slot int, samples []Sample) {
	h := s.head
	at, nAt, n := -1, 0, 0
	for _, smp := range samples {
		ls, err := normalizeLabels(smp.Labels, &s.lblBuf)
		if err != nil || smp.Name == "" {
			s.stats.rejectedSamples++
			continue
		}
		s.keyBuf = appendKey(s.keyBuf[:0], smp.Name, ls)
		if len(s.keyBuf) > MaxKeyBytes {
			s.stats.rejectedSamples++
			continue
		}
		hs := h.byKey[string(s.keyBuf)]
		if hs == nil {
			if len(h.byID) >= s.lay.opt.MaxSeries {
				s.stats.droppedSamples++
				if len(h.refused) < maxRefusedKept {
					if h.refused == nil {
						h.refused = map[string]struct{}{}
					}
					h.refused[string(s.keyBuf)] = struct{}{}
				}
				continue
			}
			hs, err = h.addSeries(string(s.keyBuf))
			if err != nil {
				s.stats.rejectedSamples++
				continue
			}
			if at >= 0 {
				// Series records must precede the samples record that uses
				// them: close it and open another after the definition.
				s.walBuf.endSamples(at, nAt, n)
				at, n = -1, 0
			}
			s.walBuf.series(hs.id, hs.key)
		}
		if !hs.add(slot, smp.Value) {
			s.stats.outOfOrder++
			continue
		}
		if at < 0 {
			at, nAt = s.walBuf.samples(slot)
		}
		s.walBuf.sample(hs.id, smp.Value)
		n++
	}
	if at >= 0 {
		s.walBuf.endSamples(at, nAt, n)
	}
}

// sealHeadLocked turns the head into an in-memory block, written by persist.
func (s *Store) sealHeadLocked() error {
	if s.head == nil || len(s.head.byID) == 0 {
		return nil
	}
	b, err := s.head.seal()
	if err != nil {
		return fmt.Errorf("seal history block: %w", err)
	}
	s.blocks[tierRaw] = insertBlock(s.blocks[tierRaw], b)
	s.limitPendingLocked()
	return nil
}

// insertBlock adds b in start order, replacing a block of the same start.
func insertBlock(list []*blockMeta, b *blockMeta) []*blockMeta {
	i, found := slices.BinarySearchFunc(list, b.start, func(m *blockMeta, t int64) int { return cmpInt(m.start, t) })
	if found {
		out := slices.Clone(list)
		out[i] = b
		return out
	}
	return slices.Insert(slices.Clone(list), i, b)
}

// Close releases the store. Blocks still held in memory because the disk
// refused them get one more try; Close reports what could not be written.
func (s *Store) Close() error {
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.readOnly {
		return nil
	}
	err := s.writePending()
	if werr := s.wal.close(); werr != nil && err == nil {
		err = fmt.Errorf("close history log: %w", werr)
	}
	s.wal = nil
	if lerr := s.lock.Close(); lerr != nil && err == nil {
		err = fmt.Errorf("release history store lock: %w", lerr)
	}
	return err
}

// setDiskErr records a write the disk refused; the first one dates the condition.
func (s *Store) setDiskErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.diskErr == nil {
		s.diskErrSince = time.Now()
	}
	s.diskErr = err
}

func (s *Store) clearDiskErr() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.diskErr = nil
	s.diskErrSince = time.Time{}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func unixTime(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

func secs(n int64) time.Duration { return time.Duration(n) * time.Second }

// isNaN is math.IsNaN, named for the aggregations that skip NaN samples.
func isNaN(v float64) bool { return math.IsNaN(v) }
