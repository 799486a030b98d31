package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// Snapshot kinds.
const (
	KindFull        = "full"
	KindIncremental = "incremental"
)

// Verification results.
const (
	VerifiedOK     = "ok"
	VerifiedFailed = "failed"
)

// Snapshot describes one published snapshot.
type Snapshot struct {
	ID       string
	Schedule string
	Time     time.Time
	Kind     string // KindFull or KindIncremental
	Parent   string // the snapshot an incremental builds on
	// Files and SourceBytes count what this snapshot's archive stores;
	// TotalFiles and TotalBytes describe the whole tree it restores.
	Files         int
	SourceBytes   int64
	TotalFiles    int
	TotalBytes    int64
	Bytes         int64 // archive size in the destination
	ArchiveSHA256 string
	Partial       bool     // some entries could not be read; see Notes
	Notes         []string // known only on the host that made the snapshot
	Verified      string   // "", VerifiedOK or VerifiedFailed
	VerifiedAt    time.Time
	Recipients    []string // public keys it is encrypted to; nil if not recorded
}

// Engine makes, lists, verifies, restores and removes snapshots.
type Engine struct {
	Dest Destination
	// StateDir holds the index key, each snapshot's manifest (the parent of
	// the next incremental) and verification results.
	StateDir string
	Now      func() time.Time
	Logger   *slog.Logger
	// CacheIndexes keeps each schedule's indexes once read, for an engine
	// that serves one request or one run (see indexes).
	CacheIndexes bool

	// beforeOpen, when set, runs just before the backup walk opens the
	// entry abs (dir: as a directory) and fails that open with its error;
	// tests use it to inject faults and to race the walk.
	beforeOpen func(abs string, dir bool) error
	// scryptWorkFactor overrides age's scrypt cost; tests lower it.
	scryptWorkFactor int
	// afterMove runs after a restore moves each entry into an existing
	// target; tests use it to race the restore as another user would.
	afterMove func(rel string)

	// indexes caches each schedule's authenticated indexes for the life of
	// the engine (one rpc call, one run): a run lists and reads them once,
	// not once for the snapshot, again for retention and again for the
	// status (over SFTP each read is a round trip). The engine's own
	// publishing and removals keep it current.
	mu      sync.Mutex
	indexes map[string]indexList
}

type indexList struct {
	ixs []index
	err error // the indexes that failed authentication
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// localRecord is what only this host knows about a snapshot.
type localRecord struct {
	Notes      []string  `json:"notes,omitempty"`
	Verified   string    `json:"verified,omitempty"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	Detail     string    `json:"detail,omitempty"`
}

func (e *Engine) scheduleStateDir(schedule string) string {
	return filepath.Join(e.StateDir, schedule)
}

func (e *Engine) recordFile(schedule, id string) string {
	return filepath.Join(e.scheduleStateDir(schedule), id+".json")
}

func (e *Engine) manifestCacheFile(schedule, id string) string {
	return filepath.Join(e.scheduleStateDir(schedule), id+".manifest.jsonl.zst")
}

func (e *Engine) readRecord(schedule, id string) (localRecord, error) {
	var rec localRecord
	b, err := os.ReadFile(e.recordFile(schedule, id))
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("read snapshot record: %w", err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("read snapshot record %s: %w", e.recordFile(schedule, id), err)
	}
	return rec, nil
}

func (e *Engine) writeRecord(schedule, id string, rec localRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode snapshot record %s: %w", id, err)
	}
	return writeFileAtomic(e.recordFile(schedule, id), append(b, '\n'))
}

// writeFileAtomic writes a 0600 file via temp, fsync, rename, creating its
// directory.
func writeFileAtomic(file string, data []byte) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	return atomicfile.Write(file, data, 0o600)
}

// readIndexes returns the authenticated indexes of schedule, oldest first,
// and an error naming every index that failed authentication.
func (e *Engine) readIndexes(ctx context.Context, schedule string) ([]index, error) {
	if !scheduleNameRE.MatchString(schedule) {
		return nil, fmt.Errorf("schedule name %q: must match [a-z0-9_-]+", schedule)
	}
	if !e.CacheIndexes {
		return e.loadIndexes(ctx, schedule)
	}
	e.mu.Lock()
	cached, ok := e.indexes[schedule]
	e.mu.Unlock()
	if ok {
		return slices.Clone(cached.ixs), cached.err
	}
	ixs, err := e.loadIndexes(ctx, schedule)
	if ixs != nil || err == nil {
		e.mu.Lock()
		if e.indexes == nil {
			e.indexes = map[string]indexList{}
		}
		e.indexes[schedule] = indexList{ixs: slices.Clone(ixs), err: err}
		e.mu.Unlock()
	}
	return ixs, err
}

// changeIndexes updates the cached indexes of schedule, if any, after the
// engine published or removed snapshots.
func (e *Engine) changeIndexes(schedule string, change func([]index) []index) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.indexes[schedule]; ok {
		l.ixs = change(l.ixs)
		sortIndexes(l.ixs)
		e.indexes[schedule] = l
	}
}

// loadIndexes reads the indexes of schedule from the destination.
func (e *Engine) loadIndexes(ctx context.Context, schedule string) ([]index, error) {
	key, err := loadIndexKey(e.StateDir)
	if err != nil {
		return nil, err
	}
	names, err := e.Dest.List(ctx, schedule+"/")
	if err != nil {
		return nil, fmt.Errorf("list snapshots of %s: %w", schedule, err)
	}
	var out []index
	var errs []error
	for _, name := range names {
		base := strings.TrimPrefix(name, schedule+"/")
		id, ok := strings.CutSuffix(base, indexSuffix)
		if !ok || !idRE.MatchString(id) {
			continue
		}
		data, err := readAllLimited(ctx, e.Dest, name, 1<<20)
		if err != nil {
			errs = append(errs, fmt.Errorf("read index %s: %w", name, err))
			continue
		}
		ix, err := openIndex(data, key, schedule, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, ix)
	}
	sortIndexes(out)
	return out, errors.Join(errs...)
}

// sortIndexes orders indexes oldest first.
func sortIndexes(ixs []index) {
	sort.Slice(ixs, func(i, j int) bool {
		if !ixs[i].Time.Equal(ixs[j].Time) {
			return ixs[i].Time.Before(ixs[j].Time)
		}
		return ixs[i].ID < ixs[j].ID
	})
}

func readAllLimited(ctx context.Context, d Destination, name string, limit int64) ([]byte, error) {
	rc, err := d.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // read-only
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

func (e *Engine) snapshotOf(ix index) (Snapshot, error) {
	rec, err := e.readRecord(ix.Schedule, ix.ID)
	s := Snapshot{
		ID: ix.ID, Schedule: ix.Schedule, Time: ix.Time, Kind: ix.Kind, Parent: ix.Parent,
		Files: ix.Files, SourceBytes: ix.SourceBytes, TotalFiles: ix.TotalFiles, TotalBytes: ix.TotalBytes,
		Bytes: ix.ArchiveBytes, ArchiveSHA256: ix.ArchiveSHA256, Partial: ix.Partial,
		Notes: rec.Notes, Verified: rec.Verified, VerifiedAt: rec.VerifiedAt, Recipients: ix.Recipients,
	}
	return s, err
}

// List returns the snapshots of schedule, oldest first: every index in the
// destination that authenticates, merged with this host's verification
// results. An index that fails authentication is not skipped silently: List
// then also returns an error naming it (wrapping ErrTampered).
func (e *Engine) List(ctx context.Context, schedule string) ([]Snapshot, error) {
	ixs, ixErr := e.readIndexes(ctx, schedule)
	out := make([]Snapshot, 0, len(ixs))
	var errs []error
	for _, ix := range ixs {
		s, err := e.snapshotOf(ix)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, s)
	}
	return out, errors.Join(append([]error{ixErr}, errs...)...)
}

// Remove deletes snapshots of schedule: for each, the index first (so it
// stops being a snapshot at once), then the archive and the manifest, then
// the local record. It holds the schedule lock. Choosing what to remove,
// including keeping every snapshot a kept incremental depends on, is the
// caller's job.
func (e *Engine) Remove(ctx context.Context, schedule string, ids []string) error {
	if !scheduleNameRE.MatchString(schedule) {
		return fmt.Errorf("schedule name %q: must match [a-z0-9_-]+", schedule)
	}
	unlock, err := e.Dest.Lock(ctx, schedule)
	if err != nil {
		return err
	}
	defer func() { _ = unlock() }() // closing the lock file cannot lose data
	for _, id := range ids {
		if !idRE.MatchString(id) {
			return fmt.Errorf("remove snapshot %q: not a snapshot id", id)
		}
		for _, name := range []string{indexObject(schedule, id), archiveObject(schedule, id), manifestObject(schedule, id)} {
			if err := e.Dest.Remove(ctx, name); err != nil {
				return fmt.Errorf("remove snapshot %s/%s: %w", schedule, id, err)
			}
		}
		for _, f := range []string{e.recordFile(schedule, id), e.manifestCacheFile(schedule, id)} {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove snapshot %s/%s: %w", schedule, id, err)
			}
		}
		e.changeIndexes(schedule, func(ixs []index) []index {
			return slices.DeleteFunc(ixs, func(ix index) bool { return ix.ID == id })
		})
		e.logger().Info("snapshot removed", "schedule", schedule, "snapshot", id)
	}
	return nil
}

// chain returns the snapshots to apply to restore id, full first. "latest"
// names the newest snapshot.
func chainOf(ixs []index, schedule, id string) ([]index, error) {
	if len(ixs) == 0 {
		return nil, fmt.Errorf("schedule %s has no snapshots", schedule)
	}
	byID := make(map[string]index, len(ixs))
	for _, ix := range ixs {
		byID[ix.ID] = ix
	}
	if id == "latest" || id == "" {
		id = ixs[len(ixs)-1].ID
	}
	var chain []index
	for cur := id; ; {
		ix, ok := byID[cur]
		if !ok {
			if len(chain) == 0 {
				return nil, fmt.Errorf("snapshot %s/%s not found", schedule, cur)
			}
			return nil, fmt.Errorf("snapshot %s/%s: its parent %s is missing, so it cannot be restored", schedule, id, cur)
		}
		chain = append(chain, ix)
		if ix.Kind == KindFull {
			break
		}
		if len(chain) > len(ixs) {
			return nil, fmt.Errorf("snapshot %s/%s: parent chain loops", schedule, id)
		}
		cur = ix.Parent
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain, nil
}
