package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
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

// archiveEncoders keeps the archive's zstd encoder (megabytes of buffers
// per worker) for the next run, so a daemon running schedule after schedule
// does not grow its heap with discarded encoders.
var archiveEncoders sync.Pool

// archiveWindow is the zstd window: 4 MiB halves the encoder's memory
// against the level's default of 8 MiB at no measured cost in speed, and is
// still twice what zstd -3 uses.
const archiveWindow = 4 << 20

func archiveEncoder(w io.Writer) (*zstd.Encoder, error) {
	if enc, ok := archiveEncoders.Get().(*zstd.Encoder); ok {
		enc.Reset(w)
		return enc, nil
	}
	// No frame checksum: the archive's SHA-256 and every file's SHA-256
	// already cover the content, and xxhash would cost another pass.
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithWindowSize(archiveWindow), zstd.WithEncoderCRC(false))
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

func (r *snapshotRun) openParent() error {
	f, err := os.Open(r.e.manifestCacheFile(r.cfg.Name, r.parent))
	if err != nil {
		return fmt.Errorf("open parent manifest: %w", err)
	}
	r.prevFile = f
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return fmt.Errorf("open parent manifest %s: %w", f.Name(), err)
	}
	r.prevDec = dec
	r.prev = newManifestReader(dec)
	return r.advanceParent()
}

// advanceParent moves to the parent's next file system entry.
func (r *snapshotRun) advanceParent() error {
	for {
		e, err := r.prev.next()
		if errors.Is(err, io.EOF) {
			r.prevCur = nil
			return nil
		}
		if err != nil {
			return fmt.Errorf("parent manifest %s: %w", r.parent, err)
		}
		if e.Deleted || e.Dump {
			continue
		}
		r.prevCur = e
		return nil
	}
}

// matchParent returns the parent's entry for name, recording every parent
// entry that sorts before it as deleted.
func (r *snapshotRun) matchParent(name string) (*manifestEntry, error) {
	if err := r.skipDeleted(name); err != nil {
		return nil, err
	}
	if r.prevCur != nil && string(r.prevCur.Path) == name {
		m := r.prevCur
		return m, r.advanceParent()
	}
	return nil, nil
}

// skipDeleted records every parent entry that sorts before name as deleted.
// The walk is past them, so they are gone whatever becomes of name.
func (r *snapshotRun) skipDeleted(name string) error {
	for r.prevCur != nil && walkLess(string(r.prevCur.Path), name) {
		if err := r.deletePrev(); err != nil {
			return err
		}
	}
	return nil
}

// finishParent records the parent's entries the walk never reached as
// deleted.
func (r *snapshotRun) finishParent() error {
	for r.prevCur != nil {
		if err := r.deletePrev(); err != nil {
			return err
		}
	}
	return nil
}

// deletePrev records the parent's current entry as deleted and moves on.
func (r *snapshotRun) deletePrev() error {
	if err := r.writeEntry(&manifestEntry{Path: r.prevCur.Path, Deleted: true}); err != nil {
		return err
	}
	r.trailer.Deleted++
	return r.advanceParent()
}

// spoolDumps runs every dump command before anything is uploaded, so a
// failing dump costs nothing. Output goes to a file: tar needs each size up
// front and the output may be larger than memory.
func (r *snapshotRun) spoolDumps() error {
	for _, d := range r.cfg.Dumps {
		f, err := r.stateTemp("dump-*")
		if err != nil {
			return err
		}
		r.dumpSpools = append(r.dumpSpools, f)
		var stderr tailBuffer
		cmd := CommandContext(r.ctx, d.Command[0], d.Command[1:]...)
		cmd.Stdout = f
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			if msg := strings.TrimSpace(stderr.String()); msg != "" {
				return fmt.Errorf("dump %s (%s): %w: %s", d.Name, d.Command[0], err, msg)
			}
			return fmt.Errorf("dump %s (%s): %w", d.Name, d.Command[0], err)
		}
	}
	return nil
}

func (r *snapshotRun) openArchive(recipients []age.Recipient) error {
	up, err := r.e.Dest.Create(r.ctx, archiveObject(r.cfg.Name, r.id))
	if err != nil {
		return fmt.Errorf("create archive %s: %w", archiveObject(r.cfg.Name, r.id), err)
	}
	r.archive = up
	r.archHash = &hashCounter{w: up, h: sha256.New(), rb: startReadBack(up)}
	r.ageW, err = age.Encrypt(r.archHash, recipients...)
	if err != nil {
		return fmt.Errorf("encrypt archive: %w", err)
	}
	if r.zw, err = archiveEncoder(r.ageW); err != nil {
		return fmt.Errorf("compress archive: %w", err)
	}
	r.aw = newAsyncWriter(r.zw, 1<<20, 4)
	r.tw = newTarWriter(r.aw)
	return r.openManifest(recipients)
}

// openManifest starts the manifest, both in the destination (encrypted) and
// in the local cache that the next incremental reads, and writes its header.
func (r *snapshotRun) openManifest(recipients []age.Recipient) error {
	up, err := r.e.Dest.Create(r.ctx, manifestObject(r.cfg.Name, r.id))
	if err != nil {
		return fmt.Errorf("create manifest %s: %w", manifestObject(r.cfg.Name, r.id), err)
	}
	r.manifest = up
	r.manHash = &hashCounter{w: up, h: sha256.New(), rb: startReadBack(up)}
	if r.manAge, err = age.Encrypt(r.manHash, recipients...); err != nil {
		return fmt.Errorf("encrypt manifest: %w", err)
	}
	if r.cacheFile, err = r.stateTemp("manifest-*"); err != nil {
		return err
	}
	// Concurrency 2 compresses on a second goroutine while the walk goes on.
	r.manZ, err = zstd.NewWriter(&cacheTee{w: r.manAge, cache: r.cacheFile},
		zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2), zstd.WithWindowSize(1<<20),
		zstd.WithEncoderCRC(false)) // covered by the manifest's SHA-256, as the archive's
	if err != nil {
		return fmt.Errorf("compress manifest: %w", err)
	}
	r.manBuf = make([]byte, 0, 2*manifestFlush)
	hdr := manifestHeader{Version: manifestVersion, ID: r.id, Schedule: r.cfg.Name, Time: r.now.UTC(), Kind: r.kind, Parent: r.parent}
	return r.writeRecord(manifestRecord{Header: &hdr})
}

// manifestFlush is how many bytes of entries are gathered before they are
// handed to the compressor.
const manifestFlush = 64 << 10

func (r *snapshotRun) writeEntry(m *manifestEntry) error {
	r.manBuf = appendEntry(r.manBuf, m)
	if len(r.manBuf) >= manifestFlush {
		return r.flushManifest()
	}
	return nil
}

// writeRecord writes a header or trailer line.
func (r *snapshotRun) writeRecord(rec manifestRecord) error {
	buf := bytes.NewBuffer(r.manBuf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	r.manBuf = buf.Bytes()
	return r.flushManifest()
}

func (r *snapshotRun) flushManifest() error {
	if _, err := r.manZ.Write(r.manBuf); err != nil {
		return fmt.Errorf("write manifest: %w", unwrapWrite(err))
	}
	r.manBuf = r.manBuf[:0]
	return nil
}

// cacheTee passes the compressed manifest to the encrypted upload and to
// the local cache.
type cacheTee struct {
	w     io.Writer
	cache *os.File
}

func (t *cacheTee) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		return n, err
	}
	if _, err := t.cache.Write(p); err != nil {
		return n, fmt.Errorf("write manifest cache: %w", err)
	}
	return n, nil
}

func (r *snapshotRun) writeDumps() error {
	for i, d := range r.cfg.Dumps {
		f := r.dumpSpools[i]
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return fmt.Errorf("dump %s: %w", d.Name, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("dump %s: %w", d.Name, err)
		}
		name := "dumps/" + d.Name
		hdr := &tarHeader{typeflag: tarReg, name: name, size: size, mode: 0o600, mtimeNS: r.now.UnixNano()}
		if err := r.tw.writeHeader(hdr); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		sum, err := r.copyContent(f, f.Name(), size)
		if err != nil {
			return fmt.Errorf("dump %s: %w", d.Name, err)
		}
		r.trailer.Files++
		r.trailer.SourceBytes += size
		r.trailer.TotalFiles++
		r.trailer.TotalBytes += size
		if err := r.writeEntry(&manifestEntry{
			Path: rawPath(name), Type: typeFile, Size: size, Mode: 0o600, MtimeNS: r.now.UnixNano(),
			SHA256: sum, Stored: true, Dump: true,
		}); err != nil {
			return err
		}
	}
	return nil
}

// copyContent writes exactly size bytes from f to the archive and returns
// their SHA-256. A file that shrinks or fails mid-read is padded with zeros
// so the archive stays well formed; the snapshot is then marked partial.
func (r *snapshotRun) copyContent(f io.Reader, name string, size int64) (string, error) {
	r.hash.Reset()
	var n int64
	var readErr error
	for n < size && readErr == nil {
		if err := r.ctx.Err(); err != nil {
			return "", err
		}
		k, err := f.Read(r.buf[:min(int64(len(r.buf)), size-n)])
		if k > 0 {
			if _, werr := r.tw.Write(r.buf[:k]); werr != nil {
				return "", unwrapWrite(werr)
			}
			r.hash.Write(r.buf[:k])
			n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		readErr = err
	}
	if n < size {
		if readErr != nil {
			r.partialNote("%s: read failed after %d of %d bytes, rest stored as zeros: %v", name, n, size, readErr)
		} else {
			r.partialNote("%s: shrank while being read (%d of %d bytes), rest stored as zeros", name, n, size)
		}
		clear(r.buf)
		for n < size {
			k := min(int64(len(r.buf)), size-n)
			if _, err := r.tw.Write(r.buf[:k]); err != nil {
				return "", unwrapWrite(err)
			}
			r.hash.Write(r.buf[:k])
			n += k
		}
	}
	return hex.EncodeToString(r.hash.Sum(nil)), nil
}

func (r *snapshotRun) closeArchive() error {
	if err := r.tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", unwrapWrite(err))
	}
	if err := r.aw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", unwrapWrite(err))
	}
	r.archDone = true
	if err := r.zw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", unwrapWrite(err))
	}
	archiveEncoders.Put(r.zw)
	if err := r.ageW.Close(); err != nil {
		return fmt.Errorf("write archive: %w", unwrapWrite(err))
	}
	return nil
}

// closeManifest writes the trailer, which carries the archive's digest, and
// finishes the upload and the local cache.
func (r *snapshotRun) closeManifest() error {
	r.trailer.ArchiveSHA256, r.trailer.ArchiveBytes = r.archHash.sum(), r.archHash.n
	if err := r.writeRecord(manifestRecord{Trailer: &r.trailer}); err != nil {
		return err
	}
	if err := r.manZ.Close(); err != nil {
		return fmt.Errorf("write manifest: %w", unwrapWrite(err))
	}
	if err := r.manAge.Close(); err != nil {
		return fmt.Errorf("write manifest: %w", unwrapWrite(err))
	}
	if err := r.cacheFile.Sync(); err != nil {
		return fmt.Errorf("write manifest cache: %w", err)
	}
	return nil
}

// publish renames archive and manifest into place, then writes the index:
// only then does the snapshot exist.
func (r *snapshotRun) publish(key []byte) (Snapshot, error) {
	ix := index{
		Version: indexVersion, ID: r.id, Schedule: r.cfg.Name, Time: r.now.UTC(), Kind: r.kind, Parent: r.parent,
		Files: r.trailer.Files, SourceBytes: r.trailer.SourceBytes,
		TotalFiles: r.trailer.TotalFiles, TotalBytes: r.trailer.TotalBytes, Partial: r.trailer.Partial,
		ArchiveBytes: r.archHash.n, ArchiveSHA256: r.archHash.sum(),
		ManifestBytes: r.manHash.n, ManifestSHA256: r.manHash.sum(), Recipients: r.recipients,
	}
	body, err := ix.seal(key)
	if err != nil {
		return Snapshot{}, err
	}
	// Published only if what the destination holds is what was written.
	if err := r.archHash.rb.check(archiveObject(r.cfg.Name, r.id), ix.ArchiveBytes); err != nil {
		return Snapshot{}, err
	}
	if err := r.manHash.rb.check(manifestObject(r.cfg.Name, r.id), ix.ManifestBytes); err != nil {
		return Snapshot{}, err
	}
	if err := r.archive.Commit(); err != nil {
		return Snapshot{}, fmt.Errorf("publish archive: %w", err)
	}
	if err := r.manifest.Commit(); err != nil {
		r.removePublished()
		return Snapshot{}, fmt.Errorf("publish manifest: %w", err)
	}
	up, err := r.e.Dest.Create(r.ctx, indexObject(r.cfg.Name, r.id))
	if err == nil {
		if _, err = up.Write(body); err == nil {
			err = up.Commit()
		}
		if err != nil {
			_ = up.Abort()
		}
	}
	if err != nil {
		r.removePublished()
		return Snapshot{}, fmt.Errorf("publish index %s: %w", indexObject(r.cfg.Name, r.id), err)
	}

	// The snapshot exists. Local bookkeeping failures from here on are
	// reported but do not unpublish it.
	r.e.changeIndexes(r.cfg.Name, func(ixs []index) []index { return append(ixs, ix) })
	var errs []error
	cache := r.e.manifestCacheFile(r.cfg.Name, r.id)
	if err := r.cacheFile.Close(); err != nil {
		errs = append(errs, err)
	} else if err := os.Rename(r.cacheFile.Name(), cache); err != nil {
		errs = append(errs, fmt.Errorf("keep manifest for the next incremental: %w", err))
	}
	r.cacheFile = nil
	rec := localRecord{Notes: r.trailer.Notes, Verified: VerifiedOK, VerifiedAt: r.e.now().UTC()}
	if err := r.e.writeRecord(r.cfg.Name, r.id, rec); err != nil {
		errs = append(errs, err)
	}
	// Only the newest manifest is needed to build the next incremental.
	old, _ := filepath.Glob(filepath.Join(r.e.scheduleStateDir(r.cfg.Name), "*.manifest.jsonl.zst"))
	for _, f := range old {
		if f != cache {
			_ = os.Remove(f) // a stale cache only costs disk space
		}
	}
	snap, err := r.e.snapshotOf(ix)
	if err != nil {
		errs = append(errs, err)
	}
	snap.Notes = r.trailer.Notes
	r.e.logger().Info("snapshot published", "schedule", r.cfg.Name, "snapshot", r.id, "kind", r.kind,
		"parent", r.parent, "files", ix.Files, "bytes", ix.ArchiveBytes, "partial", ix.Partial)
	return snap, errors.Join(errs...)
}

// removePublished undoes renamed-but-unindexed objects after a failure, so a
// later run need not sweep them.
func (r *snapshotRun) removePublished() {
	for _, name := range []string{archiveObject(r.cfg.Name, r.id), manifestObject(r.cfg.Name, r.id)} {
		_ = r.e.Dest.Remove(r.ctx, name) // without an index these are not a snapshot; sweep retries
	}
}

// hashCounter hashes and counts what passes through to w, and tells rb
// what w has accepted. Write errors are wrapped in writeError so they can
// be told apart from read errors.
type hashCounter struct {
	w  io.Writer
	h  hash.Hash
	n  int64
	rb *readBack
}

func (c *hashCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	c.rb.wrote(p[:n])
	if err != nil {
		return n, &writeError{err}
	}
	return n, nil
}

func (c *hashCounter) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// writeError marks a failure of the destination, as opposed to the source.
type writeError struct{ err error }

func (w *writeError) Error() string { return w.err.Error() }
func (w *writeError) Unwrap() error { return w.err }

func unwrapWrite(err error) error {
	var werr *writeError
	if errors.As(err, &werr) {
		return werr.err
	}
	return err
}

// tailBuffer keeps the last 1 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 1024 {
		t.b = t.b[len(t.b)-1024:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.ToValidUTF8(t.b, []byte("?"))) }
