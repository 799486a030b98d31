package backup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Backup makes one snapshot of cfg and publishes it. It holds the schedule's
// lock for the whole run, so two runs of one schedule never interleave.
//
// Nothing is published unless everything succeeds: the archive and the
// manifest are uploaded under temporary names, then renamed, then the index
// is written last; until the index exists the snapshot does not exist. On
// any error (a failing dump, a full destination, a cancelled ctx) the
// uploads are removed and the error is returned. An unreadable file does not
// fail the run: it is reported in Snapshot.Notes and the snapshot is marked
// Partial.
func (e *Engine) Backup(ctx context.Context, cfg Config) (snap Snapshot, err error) {
	recipients, roots, err := cfg.validate()
	if err != nil {
		return Snapshot{}, err
	}
	if e.Dest == nil || e.StateDir == "" {
		return Snapshot{}, errors.New("backup engine: Dest and StateDir are required")
	}
	key, err := loadIndexKey(e.StateDir)
	if err != nil {
		return Snapshot{}, err
	}
	unlock, err := e.Dest.Lock(ctx, cfg.Name)
	if err != nil {
		return Snapshot{}, err
	}
	defer func() { _ = unlock() }() // closing the lock file cannot lose data

	stateDir := e.scheduleStateDir(cfg.Name)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return Snapshot{}, fmt.Errorf("create state directory %s: %w", stateDir, err)
	}
	ixs, ixErr := e.readIndexes(ctx, cfg.Name)
	if ixErr != nil {
		// A tampered index is not ours to delete; say so loudly and carry on
		// with a snapshot whose parent is an index we can still trust.
		e.logger().Error("backup index failed authentication", "schedule", cfg.Name, "err", ixErr)
	}
	e.sweep(ctx, cfg.Name, ixs)

	if cfg.PassphraseFile != "" {
		r, err := e.restoreRecipient(ctx, cfg.Name, cfg.PassphraseFile)
		if err != nil {
			return Snapshot{}, err
		}
		recipients = append(recipients, r)
	}

	now := e.now()
	id, err := newID(now)
	if err != nil {
		return Snapshot{}, err
	}
	keys := recipientSet(recipients)
	kind, parent := e.chooseKind(cfg, keys, ixs, now)

	run := &snapshotRun{
		e: e, ctx: ctx, cfg: cfg, id: id, now: now, kind: kind, parent: parent, recipients: keys,
		links: map[devIno]hardLinkTarget{}, hash: sha256.New(), buf: make([]byte, 256<<10),
	}
	if ixErr != nil {
		run.note("some indexes failed authentication: %v", ixErr)
	}
	defer run.cleanup()

	if kind == KindIncremental {
		if err := run.openParent(); err != nil {
			return Snapshot{}, err
		}
	}
	if err := run.spoolDumps(); err != nil {
		return Snapshot{}, err
	}
	if err := run.openArchive(recipients); err != nil {
		return Snapshot{}, err
	}
	if err := run.writeDumps(); err != nil {
		return Snapshot{}, err
	}
	for _, root := range roots {
		if err := run.walkRoot(root); err != nil {
			return Snapshot{}, fmt.Errorf("back up %s: %w", root, err)
		}
	}
	if err := run.finishParent(); err != nil {
		return Snapshot{}, err
	}
	if err := run.closeArchive(); err != nil {
		return Snapshot{}, err
	}
	if err := run.closeManifest(); err != nil {
		return Snapshot{}, err
	}
	// Much of the archive is written while it is closed, after the walk's
	// last look at ctx.
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	return run.publish(key)
}

// chooseKind decides between a full and an incremental snapshot encrypted
// to keys. FullEveryRuns == 1 means always full; FullEveryRuns <= 0
// disables the run rule; with both rules disabled every snapshot is full.
// A chain encrypted to other keys is never continued.
func (e *Engine) chooseKind(cfg Config, keys []string, ixs []index, now time.Time) (kind, parent string) {
	if cfg.FullEveryRuns == 1 || (cfg.FullEveryRuns <= 0 && cfg.FullEveryAge <= 0) || len(ixs) == 0 {
		return KindFull, ""
	}
	latest := ixs[len(ixs)-1]
	chain, err := chainOf(ixs, cfg.Name, latest.ID)
	if err != nil || !sameRecipients(chain, keys) {
		return KindFull, ""
	}
	for _, ix := range chain {
		if rec, err := e.readRecord(cfg.Name, ix.ID); err != nil || rec.Verified == VerifiedFailed {
			return KindFull, ""
		}
	}
	if cfg.FullEveryRuns > 1 && len(chain) >= cfg.FullEveryRuns {
		return KindFull, ""
	}
	if cfg.FullEveryAge > 0 && now.Sub(chain[0].Time) >= cfg.FullEveryAge {
		return KindFull, ""
	}
	if _, err := os.Stat(e.manifestCacheFile(cfg.Name, latest.ID)); err != nil {
		return KindFull, "" // the parent's manifest is not on this host
	}
	return KindIncremental, latest.ID
}

// sweep removes what crashed or aborted runs left behind: temporary uploads
// and archives or manifests without an index. The caller holds the lock.
func (e *Engine) sweep(ctx context.Context, schedule string, ixs []index) {
	indexed := make(map[string]bool, len(ixs))
	for _, ix := range ixs {
		indexed[ix.ID] = true
	}
	names, err := e.Dest.List(ctx, schedule+"/")
	if err != nil {
		e.logger().Warn("list destination for cleanup", "schedule", schedule, "err", err)
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, schedule+"/")
		orphan := strings.HasPrefix(base, tempPrefix)
		for _, suffix := range []string{archiveSuffix, manifestSuffix} {
			if id, ok := strings.CutSuffix(base, suffix); ok && idRE.MatchString(id) && !indexed[id] {
				if _, err := e.Dest.Open(ctx, indexObject(schedule, id)); errors.Is(err, fs.ErrNotExist) {
					orphan = true // no index at all, not merely one we cannot authenticate
				}
			}
		}
		if orphan {
			if err := e.Dest.Remove(ctx, name); err != nil {
				e.logger().Warn("remove leftover upload", "name", name, "err", err)
			} else {
				e.logger().Info("removed leftover of an interrupted run", "name", name)
			}
		}
	}
	local, _ := filepath.Glob(filepath.Join(e.scheduleStateDir(schedule), tempPrefix+"*"))
	for _, f := range local {
		_ = os.Remove(f) // a leftover of a dead run; failing to remove it is harmless
	}
}

type devIno struct{ dev, ino uint64 }

type hardLinkTarget struct {
	path   string
	sha256 string
}

// snapshotRun is the state of one Backup call.
type snapshotRun struct {
	e      *Engine
	ctx    context.Context
	cfg    Config
	id     string
	now    time.Time
	kind   string
	parent string
	// recipients are the keys the snapshot is encrypted to (recipientSet).
	recipients []string

	// The parent's manifest, read in step with the walk.
	prevFile *os.File
	prevDec  *zstd.Decoder
	prev     *manifestReader
	prevCur  *manifestEntry

	dumpSpools []*os.File

	archive  Upload
	archHash *hashCounter
	ageW     io.WriteCloser
	zw       *zstd.Encoder
	aw       *asyncWriter // tar → zw
	tw       *tarWriter
	archDone bool

	// The manifest is written as the walk goes: one zstd stream, encrypted
	// into the destination and kept as is in the local cache.
	manifest  Upload
	manHash   *hashCounter
	manAge    io.WriteCloser
	manZ      *zstd.Encoder
	manBuf    []byte // entries not yet handed to manZ
	cacheFile *os.File

	links    map[devIno]hardLinkTarget
	hash     hash.Hash
	buf      []byte
	dirBuf   []byte      // getdents scratch space of the walk
	fileStat unix.Stat_t // fstat of the file being stored

	trailer manifestTrailer
}

// maxNotes bounds the notes a manifest keeps (and so its trailer's line);
// the log has them all.
const maxNotes = 100

func (r *snapshotRun) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.e.logger().Warn("backup note", "schedule", r.cfg.Name, "snapshot", r.id, "note", msg)
	switch n := len(r.trailer.Notes); {
	case n < maxNotes:
		r.trailer.Notes = append(r.trailer.Notes, msg)
	case n == maxNotes:
		r.trailer.Notes = append(r.trailer.Notes, "more notes are in the agent's log")
	}
}

func (r *snapshotRun) partialNote(format string, args ...any) {
	r.trailer.Partial = true
	r.note(format, args...)
}

// cleanup releases everything; after a successful publish there is nothing
// left to abort, so it only closes.
func (r *snapshotRun) cleanup() {
	// The writers go first: they write into the uploads and read-backs.
	if r.aw != nil {
		r.aw.abort() // first: it writes to zw
	}
	if r.zw != nil && !r.archDone {
		_ = r.zw.Close() // stops the encoder goroutines; the upload is aborted below
	}
	if r.manZ != nil {
		_ = r.manZ.Close() // idempotent; the upload is aborted below
	}
	for _, c := range []*hashCounter{r.archHash, r.manHash} {
		if c != nil {
			c.rb.cancel() // before the upload it reads goes away
		}
	}
	if r.archive != nil {
		_ = r.archive.Abort()
	}
	if r.manifest != nil {
		_ = r.manifest.Abort()
	}
	if r.prevDec != nil {
		r.prevDec.Close()
	}
	if r.prevFile != nil {
		_ = r.prevFile.Close()
	}
	for _, f := range append(r.dumpSpools, r.cacheFile) {
		if f != nil {
			_ = f.Close()
			_ = os.Remove(f.Name()) // temporary; a leftover is swept by the next run
		}
	}
}

func (r *snapshotRun) stateTemp(pattern string) (*os.File, error) {
	f, err := os.CreateTemp(r.e.scheduleStateDir(r.cfg.Name), tempPrefix+pattern)
	if err != nil {
		return nil, fmt.Errorf("create temporary file in %s: %w", r.e.scheduleStateDir(r.cfg.Name), err)
	}
	return f, nil
}
