package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Errors a restore or verification can end with; test them with errors.Is.
var (
	// ErrWrongKey means none of the given identities can decrypt the snapshot.
	ErrWrongKey = errors.New("none of the given identities can decrypt this snapshot (wrong key?)")
	// ErrCorrupt means an archive or manifest differs from what its index
	// records, or a restored file differs from its manifest entry.
	ErrCorrupt = errors.New("snapshot is corrupt or was modified")
	// ErrVerificationFailed means a snapshot in the chain failed verification
	// earlier and is refused.
	ErrVerificationFailed = errors.New("snapshot failed verification and is marked bad")
	// ErrExists means the restore would replace existing files and
	// RestoreOptions.Overwrite is false.
	ErrExists = errors.New("restore target already has this file (use overwrite)")
)

// RestoreOptions selects what to restore and where.
type RestoreOptions struct {
	Schedule string
	Snapshot string // an ID, or "latest"
	// Target is the directory that receives the tree: /etc/hosts is restored
	// as Target/etc/hosts.
	Target string
	// Include restricts the restore to these paths and everything below
	// them ("/etc/ssh"); empty means everything.
	Include   []string
	DryRun    bool
	Overwrite bool
	// Identities decrypt the snapshot; see also Engine.PassphraseIdentity.
	Identities []age.Identity
	// Progress, when set, is called as archive bytes are read.
	Progress func(doneBytes, totalBytes int64)
}

// RestoreResult counts what was (or, for a dry run, would be) restored:
// Files counts everything but directories, Bytes the regular files' sizes.
type RestoreResult struct {
	Files int
	Bytes int64
}

// Restore restores a snapshot, walking its chain from the full snapshot
// through each incremental. Everything is first restored and checked in a
// work directory beside Target that only this process can enter (every
// file's SHA-256 against the manifest, every archive's SHA-256 against the
// index); only then does it move into Target: by one rename when Target
// does not exist, or entry by entry into an existing directory. So a wrong
// key, a corrupt archive or a conflict leaves nothing partial under Target.
// No step follows a symlink or looks a path up twice (see restore_place.go).
func (e *Engine) Restore(ctx context.Context, opts RestoreOptions) (RestoreResult, error) {
	if opts.Target == "" {
		return RestoreResult{}, errors.New("restore: target directory is required")
	}
	target, err := filepath.Abs(opts.Target)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore target %s: %w", opts.Target, err)
	}
	chain, err := e.restorableChain(ctx, opts.Schedule, opts.Snapshot)
	if err != nil {
		return RestoreResult{}, err
	}
	if len(opts.Identities) == 0 {
		return RestoreResult{}, errors.New("restore: at least one identity is required to decrypt")
	}
	if !identitiesCanRead(chain, opts.Identities) {
		return RestoreResult{}, errNoIdentityFor(chain, opts.Identities)
	}
	inc := newIncludeFilter(opts.Include)
	if opts.DryRun {
		return e.dryRun(ctx, chain[len(chain)-1], opts, inc, target)
	}

	// The work directory goes beside the target, on its file system, or
	// inside it when the target is "/".
	parentPath, base := filepath.Dir(target), filepath.Base(target)
	if target == "/" {
		parentPath, base = "/", ""
	}
	parent, err := openDirPath(parentPath, true, 0o755)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore target %s: %w", target, err)
	}
	defer parent.release()
	work, err := newWorkDir(parent, ".steward-restore-")
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore beside %s: %w", target, err)
	}
	defer work.remove() // empty of the tree after a successful move

	res, restored, err := e.applyChain(ctx, chain, opts.Identities, work, inc, opts.Progress)
	if err != nil {
		return RestoreResult{}, err
	}
	m := &merger{restored: restored, overwrite: opts.Overwrite, hook: e.afterMove}
	if err := m.place(work, parent, base); err != nil {
		return RestoreResult{}, fmt.Errorf("%w (target %s)", err, target)
	}
	e.logger().Info("snapshot restored", "schedule", opts.Schedule, "snapshot", chain[len(chain)-1].ID,
		"target", target, "files", res.Files, "bytes", res.Bytes)
	return res, nil
}

// restorableChain finds the chain of id and refuses it when any member
// failed verification.
func (e *Engine) restorableChain(ctx context.Context, schedule, id string) ([]index, error) {
	ixs, ixErr := e.readIndexes(ctx, schedule)
	if ixs == nil && ixErr != nil {
		return nil, ixErr
	}
	chain, err := chainOf(ixs, schedule, id)
	if err != nil {
		return nil, errors.Join(err, ixErr)
	}
	for _, ix := range chain {
		rec, err := e.readRecord(schedule, ix.ID)
		if err != nil {
			return nil, err
		}
		if rec.Verified == VerifiedFailed {
			return nil, fmt.Errorf("snapshot %s/%s: %w (%s at %s); restore an older snapshot",
				schedule, ix.ID, ErrVerificationFailed, rec.Detail, rec.VerifiedAt.Format(time.RFC3339))
		}
	}
	return chain, nil
}

type includeFilter []string

func newIncludeFilter(paths []string) includeFilter {
	var f includeFilter
	for _, p := range paths {
		p = strings.Trim(path.Clean("/"+p), "/")
		if p == "" {
			return nil // the root includes everything
		}
		f = append(f, p)
	}
	return f
}

// parent reports whether name is a directory above an included path.
func (f includeFilter) parent(name string) bool {
	for _, p := range f {
		if strings.HasPrefix(p, name+"/") {
			return true
		}
	}
	return false
}

func (f includeFilter) match(name string) bool {
	if len(f) == 0 {
		return true
	}
	for _, p := range f {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

func (e *Engine) dryRun(ctx context.Context, last index, opts RestoreOptions, inc includeFilter, target string) (RestoreResult, error) {
	var res RestoreResult
	err := e.readManifest(ctx, last, opts.Identities, func(m *manifestEntry) error {
		if m.Deleted || !inc.match(string(m.Path)) {
			return nil
		}
		if m.Type != typeDir {
			res.Files++
			if m.Type == typeFile {
				res.Bytes += m.Size
			}
			if !opts.Overwrite {
				if _, err := os.Lstat(filepath.Join(target, string(m.Path))); err == nil {
					return fmt.Errorf("restore %s: %w", filepath.Join(target, string(m.Path)), ErrExists)
				}
			}
		}
		return nil
	})
	return res, err
}

// snapshotError names the snapshot in the chain that failed.
type snapshotError struct {
	id  string
	err error
}

func (s *snapshotError) Error() string { return "snapshot " + s.id + ": " + s.err.Error() }
func (s *snapshotError) Unwrap() error { return s.err }

// applyChain restores chain into the tree of work and checks it. It
// returns the names of the directories it restored (see checkTree).
func (e *Engine) applyChain(ctx context.Context, chain []index, ids []age.Identity, work *workDir, inc includeFilter, progress func(int64, int64)) (RestoreResult, map[string]struct{}, error) {
	p := &progressCounter{fn: progress}
	for _, ix := range chain {
		p.total += ix.ArchiveBytes
	}
	x, err := newExtractor(work.tree, work.dir, inc)
	if err != nil {
		return RestoreResult{}, nil, err
	}
	defer x.close()
	for _, ix := range chain {
		if err := e.applySnapshot(ctx, ix, ids, x, p); err != nil {
			err = e.classify(ctx, ix, err)
			if errors.Is(err, ErrWrongKey) {
				err = &snapshotError{ix.ID, errNoIdentityFor(chain, ids)}
			}
			return RestoreResult{}, nil, err
		}
	}
	last := chain[len(chain)-1]
	res, restored, err := e.checkTree(ctx, last, ids, work.tree, inc)
	if err != nil {
		return RestoreResult{}, nil, e.classify(ctx, last, err)
	}
	return res, restored, nil
}

// classify turns a failure while reading a snapshot into a clear error:
// wrong key or corruption, decided by re-checking the archive's digest.
func (e *Engine) classify(ctx context.Context, ix index, err error) error {
	if ctx.Err() != nil || errors.Is(err, ErrCorrupt) {
		return &snapshotError{ix.ID, err}
	}
	var noMatch *age.NoIdentityMatchError
	digestErr := e.checkDigests(ctx, ix)
	switch {
	case digestErr != nil:
		return &snapshotError{ix.ID, digestErr}
	case errors.As(err, &noMatch):
		return &snapshotError{ix.ID, fmt.Errorf("%w: %w", ErrWrongKey, err)}
	}
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	if errors.As(err, &pathErr) || errors.As(err, &linkErr) {
		return &snapshotError{ix.ID, err} // a local file system problem, not the snapshot's
	}
	return &snapshotError{ix.ID, fmt.Errorf("%w: %w", ErrCorrupt, err)}
}

// checkDigests re-reads archive and manifest and compares their SHA-256
// and size with the index.
func (e *Engine) checkDigests(ctx context.Context, ix index) error {
	if err := e.checkObject(ctx, archiveObject(ix.Schedule, ix.ID), ix.ArchiveSHA256, ix.ArchiveBytes); err != nil {
		return err
	}
	return e.checkObject(ctx, manifestObject(ix.Schedule, ix.ID), ix.ManifestSHA256, ix.ManifestBytes)
}

// checkObject reads name and compares its SHA-256 and size with the
// index's, reading at most one byte more than the index says.
func (e *Engine) checkObject(ctx context.Context, name, sum string, size int64) error {
	rc, err := e.Dest.Open(ctx, name)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(ctxReader{ctx, rc}, size+1))
	_ = rc.Close() // read-only
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum || n != size {
		return fmt.Errorf("%w: %s has sha256 %s (%d bytes), index says %s (%d bytes)", ErrCorrupt, name, got, n, sum, size)
	}
	return nil
}

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r        io.Reader
	h        hash.Hash
	n        int64
	progress *progressCounter
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if h.progress != nil {
		h.progress.add(int64(n))
	}
	return n, err
}

// finish reads the plaintext and then the ciphertext to the end and
// compares the ciphertext's digest with want. The plaintext goes first: the
// decompressor reads ahead on a goroutine of its own, and is done with h
// only once it has returned io.EOF.
func (h *hashingReader) finish(plain io.Reader, name, want string, size int64) error {
	if _, err := io.Copy(io.Discard, plain); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if _, err := io.Copy(io.Discard, h); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if got := hex.EncodeToString(h.h.Sum(nil)); got != want || h.n != size {
		return fmt.Errorf("%w: %s has sha256 %s (%d bytes), index says %s (%d bytes)", ErrCorrupt, name, got, h.n, want, size)
	}
	return nil
}

type progressCounter struct {
	fn          func(int64, int64)
	done, total int64
}

func (p *progressCounter) add(n int64) {
	p.done += n
	if p.fn != nil && n > 0 {
		p.fn(p.done, p.total)
	}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// maxWindow is the largest zstd window a restore accepts: twice what
// backups write, so that a hostile frame cannot make the decoder allocate
// hundreds of megabytes.
const maxWindow = 2 * archiveWindow

// openEncrypted opens an object for decrypting, hashing the ciphertext.
func (e *Engine) openEncrypted(ctx context.Context, name string, ids []age.Identity, p *progressCounter) (*hashingReader, io.Reader, func(), error) {
	rc, err := e.Dest.Open(ctx, name)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	hr := &hashingReader{r: ctxReader{ctx, rc}, h: sha256.New(), progress: p}
	plain, err := age.Decrypt(hr, ids...)
	if err != nil {
		_ = rc.Close()
		return nil, nil, nil, fmt.Errorf("decrypt %s: %w", name, err)
	}
	dec, err := zstd.NewReader(plain, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxWindow))
	if err != nil {
		_ = rc.Close()
		return nil, nil, nil, fmt.Errorf("decompress %s: %w", name, err)
	}
	return hr, dec, func() { dec.Close(); _ = rc.Close() }, nil
}

// readManifest calls fn for every entry of ix's manifest and checks the
// manifest's digest and completeness.
func (e *Engine) readManifest(ctx context.Context, ix index, ids []age.Identity, fn func(*manifestEntry) error) error {
	name := manifestObject(ix.Schedule, ix.ID)
	// The index is authenticated, the manifest only by its digest there:
	// check it before decrypting or parsing anything in it.
	if err := e.checkObject(ctx, name, ix.ManifestSHA256, ix.ManifestBytes); err != nil {
		return err
	}
	hr, plain, closeFn, err := e.openEncrypted(ctx, name, ids, nil)
	if err != nil {
		return err
	}
	defer closeFn()
	mr := newManifestReader(plain)
	for {
		m, err := mr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	if err := checkManifestEnds(mr, ix); err != nil {
		return err
	}
	return hr.finish(plain, name, ix.ManifestSHA256, ix.ManifestBytes)
}

func checkManifestEnds(mr *manifestReader, ix index) error {
	if mr.header == nil || mr.trailer == nil {
		return fmt.Errorf("%w: manifest of %s is truncated", ErrCorrupt, ix.ID)
	}
	if mr.header.ID != ix.ID || mr.archiveSHA256() != ix.ArchiveSHA256 {
		return fmt.Errorf("%w: manifest of %s belongs to snapshot %s", ErrCorrupt, ix.ID, mr.header.ID)
	}
	return nil
}

// applySnapshot extracts one archive into root, reading its manifest in
// step: the i-th archive entry is the i-th stored manifest entry, and the
// deletions between them are applied as they come.
func (e *Engine) applySnapshot(ctx context.Context, ix index, ids []age.Identity, x *extractor, p *progressCounter) error {
	mName := manifestObject(ix.Schedule, ix.ID)
	if err := e.checkObject(ctx, mName, ix.ManifestSHA256, ix.ManifestBytes); err != nil {
		return err // as in readManifest
	}
	mHash, mPlain, mClose, err := e.openEncrypted(ctx, mName, ids, nil)
	if err != nil {
		return err
	}
	defer mClose()
	mr := newManifestReader(mPlain)

	aName := archiveObject(ix.Schedule, ix.ID)
	aHash, aPlain, aClose, err := e.openEncrypted(ctx, aName, ids, p)
	if err != nil {
		return err
	}
	defer aClose()
	tr := newTarReader(aPlain)

	nextStored := func() (*manifestEntry, error) {
		for {
			m, err := mr.next()
			if err != nil {
				return nil, err
			}
			if m.Deleted {
				if err := x.drain(); err != nil {
					return nil, err
				}
				if err := x.removeDeleted(string(m.Path)); err != nil {
					return nil, err
				}
				continue
			}
			if m.Stored {
				return m, nil
			}
		}
	}
	for {
		hdr, err := tr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive %s: %w", aName, err)
		}
		m, err := nextStored()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: archive %s has entries its manifest lacks", ErrCorrupt, aName)
		}
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(hdr.name, "/")
		if name != string(m.Path) {
			return fmt.Errorf("%w: archive %s entry %q does not match manifest entry %q", ErrCorrupt, aName, name, m.Path)
		}
		if !insideTree(name) {
			return fmt.Errorf("%w: archive %s entry %q is not a relative path", ErrCorrupt, aName, name)
		}
		if hdr.typeflag == tarReg && hdr.size != m.Size {
			// Checked before a byte is written: a hostile size would fill the disk.
			return fmt.Errorf("%w: archive %s entry %q has %d bytes, manifest says %d", ErrCorrupt, aName, name, hdr.size, m.Size)
		}
		if err := x.extract(tr, hdr, m); err != nil {
			return err
		}
	}
	if m, err := nextStored(); !errors.Is(err, io.EOF) {
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: archive %s lacks manifest entry %q", ErrCorrupt, aName, m.Path)
	}
	if err := x.drain(); err != nil {
		return err
	}
	if err := checkManifestEnds(mr, ix); err != nil {
		return err
	}
	if err := aHash.finish(aPlain, aName, ix.ArchiveSHA256, ix.ArchiveBytes); err != nil {
		return err
	}
	return mHash.finish(mPlain, mName, ix.ManifestSHA256, ix.ManifestBytes)
}

// insideTree reports whether an archive name stays below the restore
// directory by its letters alone: relative and without a ".." component,
// so that opening it component by component never climbs out.
func insideTree(name string) bool {
	return filepath.IsLocal(name) && !strings.HasSuffix(name, "/..") && !strings.Contains(name, "/../")
}

// removeDeleted deletes name unless one of its parents is no longer a real
// directory (then name is already gone, and following a symlink would
// delete something else). The writers are drained.
func (x *extractor) removeDeleted(name string) error {
	if !insideTree(name) {
		return fmt.Errorf("%w: deletion of %q outside the tree", ErrCorrupt, name)
	}
	dir, base := splitName(name)
	d, err := x.dirs.enter(dir, false)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return nil // a parent is gone, no directory, or a symlink, which is not followed
	}
	if err != nil {
		return fmt.Errorf("restore: remove deleted %s: %w", name, err)
	}
	// The stack now ends at name's parent, so no open level is removed.
	if err := removeAllAt(d.fd, base); err != nil {
		return fmt.Errorf("restore: %w", &fs.PathError{Op: "remove deleted", Path: name, Err: err})
	}
	return nil
}

// extractor writes archive entries below top. Files left out by the
// include filter that other paths hard-link to are kept in a stash beside
// the restore directory, so an included link to an excluded first path
// still restores.
type extractor struct {
	dirs     dirStack
	inc      includeFilter
	hash     hash.Hash
	writers  *fileWriters
	scratch  *dirRef           // where the stash is made, outside the tree
	stashRef *dirRef           // the stash, once made
	stash    map[string]string // archive name -> file name in the stash
	stashed  int               // files written to the stash, which names them

	// A new file is owned by the effective user and group, unless the
	// restore directory is setgid (it inherits that from its parent, and
	// passes it to every directory created below it): then only root's
	// chown makes the group right.
	asRoot     bool
	uid, gid   int
	inheritGID bool
}

// newExtractor extracts into top; the stash of hard-link targets goes
// into scratch, a directory outside top that no other user can enter.
func newExtractor(top, scratch *dirRef, inc includeFilter) (*extractor, error) {
	var st unix.Stat_t
	if err := unix.Fstat(top.fd, &st); err != nil {
		return nil, fmt.Errorf("restore: %w", &fs.PathError{Op: "stat", Path: "the restore directory", Err: err})
	}
	return &extractor{
		dirs: dirStack{top: top}, scratch: scratch, inc: inc, hash: sha256.New(), writers: newFileWriters(),
		asRoot: os.Geteuid() == 0, uid: os.Geteuid(), gid: os.Getegid(), inheritGID: st.Mode&unix.S_ISGID != 0,
	}, nil
}

// chown says whether an entry restored by this process needs a chown to
// get m's owner. Only root can give files away; without root they keep
// the restoring user's, as before.
func (x *extractor) chown(m *manifestEntry) bool {
	return x.asRoot && (x.inheritGID || m.UID != x.uid || m.GID != x.gid)
}

func (x *extractor) fileMeta(m *manifestEntry) fileMeta {
	return fileMeta{uid: m.UID, gid: m.GID, mode: m.Mode, mtimeNS: m.MtimeNS, chown: x.chown(m)}
}

func (x *extractor) close() {
	x.writers.stop() // nothing may write into the tree once it is removed
	for _, j := range x.writers.takeConflicts() {
		j.dir.release()
	}
	x.dirs.reset()
	if x.stashRef != nil {
		_ = removeChildren(x.stashRef.fd) // scratch copies only
		x.stashRef.release()
		_ = unlinkAt(x.scratch.fd, workLinks, unix.AT_REMOVEDIR)
	}
}

func (x *extractor) extract(tr *tarReader, hdr *tarHeader, m *manifestEntry) error {
	name := string(m.Path)
	if !x.inc.match(name) {
		if hdr.typeflag == tarReg && m.Nlink > 1 {
			return x.keepForLinks(tr, hdr, m)
		}
		return nil
	}
	if err := x.writers.failed(); err != nil {
		return err
	}
	if x.writers.pending(name) {
		if err := x.drain(); err != nil { // an archive naming a path twice
			return err
		}
	}
	dir, base := splitName(name)
	d, err := x.dirs.enter(dir, true)
	if err != nil {
		return fmt.Errorf("restore %s: %w", name, err)
	}
	// Held while the entry is written: draining may close the stack's
	// levels (see drain).
	d.hold()
	defer d.release()
	switch hdr.typeflag {
	case tarDir:
		return x.mkdir(d, base, name)
	case tarSymlink:
		return x.symlink(d, base, name, hdr.linkname, m)
	case tarLink:
		return x.link(d, base, name, hdr.linkname)
	case tarReg:
		return x.queueFile(tr, hdr, m, d, base)
	}
	return fmt.Errorf("%w: archive entry %q has unexpected type %q", ErrCorrupt, name, hdr.typeflag)
}

// keepForLinks writes an excluded file that later entries may hard-link
// to into the stash, through the file writers like any restored file, so
// the copy gets the entry's owner, mode and mtime: it is the inode the
// links restore.
func (x *extractor) keepForLinks(tr *tarReader, hdr *tarHeader, m *manifestEntry) error {
	name := string(m.Path)
	if x.writers.pending(name) {
		if err := x.drain(); err != nil { // stored again in the chain; pending tracks a name once
			return err
		}
	}
	if x.stashRef == nil {
		if err := mkdirAt(x.scratch.fd, workLinks); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "mkdir", Path: workLinks, Err: err})
		}
		fd, err := openDirAt(x.scratch.fd, workLinks)
		if err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "open", Path: workLinks, Err: err})
		}
		x.stashRef, x.stash = newDirRef(fd), map[string]string{}
	}
	base := strconv.Itoa(x.stashed)
	x.stashed++
	x.stash[name] = base
	return x.queueFile(tr, hdr, m, x.stashRef, base)
}

// Entries are created first and the name checked only when it is taken:
// the restore goes into a fresh directory, so a name is taken only in a
// chain (a later snapshot storing a path again) or when an archive names
// a path twice.

// mkdir creates directory base in d. Its mode, owner and mtime are set by
// checkTree, after its children.
func (x *extractor) mkdir(d *dirRef, base, name string) error {
	err := mkdirAt(d.fd, base)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if lstatAt(d.fd, base, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return nil // a directory that is still a directory: only metadata changes
		}
		if err := x.clear(d, base, name); err != nil {
			return err
		}
		err = mkdirAt(d.fd, base)
	}
	if err != nil {
		return fmt.Errorf("restore: %w", &fs.PathError{Op: "mkdir", Path: name, Err: err})
	}
	return nil
}

// symlink creates symlink base in d and sets its owner and mtime right
// away, through its name with AT_SYMLINK_NOFOLLOW.
func (x *extractor) symlink(d *dirRef, base, name, target string, m *manifestEntry) error {
	err := ignoringEINTR(func() error { return unix.Symlinkat(target, d.fd, base) })
	if errors.Is(err, unix.EEXIST) {
		if err := x.clear(d, base, name); err != nil {
			return err
		}
		err = ignoringEINTR(func() error { return unix.Symlinkat(target, d.fd, base) })
	}
	if err != nil {
		return fmt.Errorf("restore: %w", &os.LinkError{Op: "symlink", Old: target, New: name, Err: err})
	}
	if x.chown(m) {
		if err := ignoringEINTR(func() error { return unix.Fchownat(d.fd, base, m.UID, m.GID, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "lchown", Path: name, Err: err})
		}
	}
	ts := mtimeSpec(m.MtimeNS)
	if err := ignoringEINTR(func() error { return unix.UtimesNanoAt(d.fd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
		return fmt.Errorf("restore: %w", &fs.PathError{Op: "chtimes", Path: name, Err: err})
	}
	return nil
}

// link creates hard link base in d to the earlier entry target. linkat
// without AT_SYMLINK_FOLLOW links a symlink itself, never what it points
// to, and target's directory is opened component by component like any.
func (x *extractor) link(d *dirRef, base, name, target string) error {
	if x.writers.pending(target) {
		if err := x.drain(); err != nil { // the target must be written first
			return err
		}
	}
	if stashed, ok := x.stash[target]; ok { // only excluded names are stashed
		return x.linkAt(x.stashRef.fd, stashed, d, base, name, target)
	}
	if !insideTree(target) {
		return fmt.Errorf("%w: hard link %q to %q outside the tree", ErrCorrupt, name, target)
	}
	tdir, tbase := splitName(target)
	td, err := x.dirs.lookup(tdir)
	if err != nil {
		return fmt.Errorf("restore hard link %s to %s: %w", name, target, err)
	}
	defer td.release()
	return x.linkAt(td.fd, tbase, d, base, name, target)
}

func (x *extractor) linkAt(olddir int, oldbase string, d *dirRef, base, name, target string) error {
	err := ignoringEINTR(func() error { return unix.Linkat(olddir, oldbase, d.fd, base, 0) })
	if errors.Is(err, unix.EEXIST) {
		if err := x.clear(d, base, name); err != nil {
			return err
		}
		err = ignoringEINTR(func() error { return unix.Linkat(olddir, oldbase, d.fd, base, 0) })
	}
	if err != nil {
		return fmt.Errorf("restore hard link %s: %w", name, &os.LinkError{Op: "link", Old: target, New: name, Err: err})
	}
	return nil
}

// clear removes what takes base in d, to make room for entry name. It
// drains the writers first: a queued file may be below it.
func (x *extractor) clear(d *dirRef, base, name string) error {
	if err := x.drain(); err != nil {
		return err
	}
	if err := removeAllAt(d.fd, base); err != nil {
		return fmt.Errorf("restore: %w", &fs.PathError{Op: "replace", Path: name, Err: err})
	}
	return nil
}

// drain waits until every queued file is written and returns the first
// error writing one. Files whose name a writer found taken by a directory
// are written here, after removing it: that needs idle writers.
func (x *extractor) drain() error {
	err := x.writers.drain()
	for _, j := range x.writers.takeConflicts() {
		if err == nil {
			err = x.replaceDir(j)
		}
		j.dir.release()
		x.writers.done(j.name)
	}
	return err
}

// replaceDir writes the small file of j where a directory is.
func (x *extractor) replaceDir(j fileJob) error {
	// The stack may hold the directory or one below it (in an archive out
	// of walk order); it reopens what it needs.
	x.dirs.reset()
	if err := removeAllAt(j.dir.fd, j.base); err != nil {
		return fmt.Errorf("restore: %w", &fs.PathError{Op: "replace", Path: j.name, Err: err})
	}
	if err := writeNewFile(j.dir.fd, j.base, j.name, j.data, &j.meta); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// queueFile reads a regular file's content into buffers, checks it against
// the manifest and hands the buffers to writer goroutines: creating and
// writing files is mostly kernel time, which several goroutines overlap.
// A small file is created by a writer; a larger one is created here and
// written in chunks at their offsets. d is the open directory of the file
// and base its name there.
func (x *extractor) queueFile(tr *tarReader, hdr *tarHeader, m *manifestEntry, d *dirRef, base string) error {
	w := x.writers
	name := string(m.Path)
	x.hash.Reset()
	if hdr.size <= writeChunk {
		buf := <-w.free
		n, err := io.ReadFull(tr, buf[:hdr.size])
		x.hash.Write(buf[:n])
		if err != nil {
			err = fmt.Errorf("restore %s: %w", m.Path, err)
		} else {
			err = checkSum(x.hash, m, int64(n))
		}
		if err != nil {
			w.free <- buf
			return err
		}
		w.queue(fileJob{dir: d.hold(), base: base, name: name, data: buf[:n], meta: x.fileMeta(m)})
		return nil
	}
	fd, err := createAt(d.fd, base)
	if errors.Is(err, unix.EEXIST) {
		if err := x.clear(d, base, name); err != nil {
			return err
		}
		fd, err = createAt(d.fd, base)
	}
	if err != nil {
		return fmt.Errorf("restore: %w", &fs.PathError{Op: "create", Path: name, Err: err})
	}
	sf := w.open(fd, name, x.fileMeta(m))
	defer sf.release(w)
	var off int64
	for off < hdr.size {
		if err := w.failed(); err != nil {
			return err
		}
		buf := <-w.free
		n, err := io.ReadFull(tr, buf[:min(hdr.size-off, int64(len(buf)))])
		x.hash.Write(buf[:n])
		if err != nil {
			w.free <- buf
			return fmt.Errorf("restore %s: %w", m.Path, err)
		}
		w.queue(fileJob{file: sf.hold(), name: name, data: buf[:n], off: off})
		off += int64(n)
	}
	return checkSum(x.hash, m, off)
}

// checkSum compares a restored file's digest and size with its manifest entry.
func checkSum(h hash.Hash, m *manifestEntry, n int64) error {
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 || n != m.Size {
		return fmt.Errorf("%w: %s restored with sha256 %s (%d bytes), manifest says %s (%d bytes)", ErrCorrupt, m.Path, got, n, m.SHA256, m.Size)
	}
	return nil
}

const (
	writeChunk        = 1 << 20 // files up to this size are created by a writer
	fileWriterCount   = 4
	fileWriterBuffers = 8 // so at most 8 MiB of content is held
)

// fileJob is a small file to create, write and finish, or a chunk of a
// larger file opened already.
type fileJob struct {
	file *sharedFile // nil: create base in dir
	dir  *dirRef
	base string
	name string
	data []byte
	off  int64
	meta fileMeta
}

// sharedFile is a file being written by several chunk jobs; the last one
// to release it sets its metadata (after the last write, so the mtime
// stays) and closes it.
type sharedFile struct {
	fd   int
	name string
	meta fileMeta
	refs atomic.Int32
}

func (s *sharedFile) hold() *sharedFile {
	s.refs.Add(1)
	return s
}

func (s *sharedFile) release(w *fileWriters) {
	if s.refs.Add(-1) != 0 {
		return
	}
	var err error
	if w.failed() == nil {
		err = s.meta.apply(s.fd, s.name)
	}
	if cerr := unix.Close(s.fd); cerr != nil && err == nil {
		err = &fs.PathError{Op: "close", Path: s.name, Err: cerr}
	}
	if err != nil {
		w.fail(fmt.Errorf("restore: %w", err))
	}
	w.done(s.name)
}

// fileWriters create, write, finish and close files on a few goroutines.
// The names of files not yet written and closed are remembered, so that
// an entry that needs one of them (a hard link to it, or the same name
// again) can wait for it.
type fileWriters struct {
	jobs  chan fileJob
	free  chan []byte
	wg    sync.WaitGroup // queued jobs
	procs sync.WaitGroup // goroutines

	mu        sync.Mutex
	names     map[string]struct{} // queued, not yet written
	conflicts []fileJob           // small files whose name a directory takes

	firstError
}

func newFileWriters() *fileWriters {
	w := &fileWriters{
		jobs: make(chan fileJob, fileWriterBuffers),
		free: make(chan []byte, fileWriterBuffers), names: map[string]struct{}{},
	}
	for range fileWriterBuffers {
		w.free <- make([]byte, writeChunk)
	}
	for range fileWriterCount {
		w.procs.Go(w.run)
	}
	return w
}

func (w *fileWriters) run() {
	for j := range w.jobs {
		buf := j.data[:cap(j.data)]
		conflict := false
		if w.failed() == nil {
			var err error
			if conflict, err = w.write(&j); err != nil {
				w.fail(err)
			}
		}
		switch {
		case j.file != nil:
			j.file.release(w)
		case conflict:
			// Still pending and holding its directory, until drain.
			j.data = bytes.Clone(j.data) // buf goes back to the pool
			w.mu.Lock()
			w.conflicts = append(w.conflicts, j)
			w.mu.Unlock()
		default:
			j.dir.release()
			w.done(j.name)
		}
		w.free <- buf
		w.wg.Done()
	}
}

// write does one job. A small file whose name is taken replaces a file or
// symlink there: nothing else queued can need that (a hard link to this
// name, or the name again, waits while it is pending). A directory there
// is a conflict for the extractor, which removes it once the writers are
// idle, since queued files may be below it.
func (w *fileWriters) write(j *fileJob) (conflict bool, err error) {
	if j.file != nil {
		if err := writeFull(j.file.fd, j.data, j.off); err != nil {
			return false, fmt.Errorf("restore: %w", &fs.PathError{Op: "write", Path: j.name, Err: err})
		}
		return false, nil
	}
	err = writeNewFile(j.dir.fd, j.base, j.name, j.data, &j.meta)
	if errors.Is(err, unix.EEXIST) {
		switch uerr := unlinkAt(j.dir.fd, j.base, 0); {
		case errors.Is(uerr, unix.EISDIR):
			return true, nil
		case uerr != nil && !errors.Is(uerr, unix.ENOENT):
			err = &fs.PathError{Op: "replace", Path: j.name, Err: uerr}
		default:
			err = writeNewFile(j.dir.fd, j.base, j.name, j.data, &j.meta)
		}
	}
	if err != nil {
		return false, fmt.Errorf("restore: %w", err)
	}
	return false, nil
}

// open registers a file that chunk jobs will write; the caller holds one
// reference.
func (w *fileWriters) open(fd int, name string, meta fileMeta) *sharedFile {
	w.mu.Lock()
	w.names[name] = struct{}{}
	w.mu.Unlock()
	s := &sharedFile{fd: fd, name: name, meta: meta}
	s.refs.Store(1)
	return s
}

func (w *fileWriters) queue(j fileJob) {
	if j.file == nil {
		w.mu.Lock()
		w.names[j.name] = struct{}{}
		w.mu.Unlock()
	}
	w.wg.Add(1)
	w.jobs <- j
}

// done forgets a file that is written and closed.
func (w *fileWriters) done(name string) {
	w.mu.Lock()
	delete(w.names, name)
	w.mu.Unlock()
}

// pending reports whether name is queued and not yet written.
func (w *fileWriters) pending(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.names[name]
	return ok
}

// drain waits until every queued job is done and returns the first error.
func (w *fileWriters) drain() error {
	w.wg.Wait()
	return w.failed()
}

// takeConflicts returns the jobs left for the extractor; call it with the
// writers idle.
func (w *fileWriters) takeConflicts() []fileJob {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.conflicts
	w.conflicts = nil
	return c
}

// stop waits for the queued jobs and ends the goroutines.
func (w *fileWriters) stop() {
	close(w.jobs)
	w.procs.Wait()
}

// firstError keeps the first error that one of several goroutines meets;
// embedded, it gives their owner fail and failed.
type firstError struct{ first atomic.Pointer[error] }

// fail records err unless an error is recorded already.
func (f *firstError) fail(err error) { f.first.CompareAndSwap(nil, &err) }

// failed returns the first error recorded, if any.
func (f *firstError) failed() error {
	if p := f.first.Load(); p != nil {
		return *p
	}
	return nil
}

// checkTree walks the final manifest: every entry must be there with the
// right type, and files with the right size. Files and symlinks got their
// owner, mode and mtime when written, so here these are only compared and
// fixed where they differ (an entry from the stash, or anything a chain
// left otherwise): one lstat per entry, through an open parent directory.
// Entries go in batches to a few goroutines, which overlap the system
// calls. Directories get their owners, modes and mtimes at the end,
// children before parents, since creating a child changes a directory's
// mtime; so do the parents of included paths, which the snapshot has but
// does not restore (in an existing target they keep their own). It returns
// the names of the directories it restored.
func (e *Engine) checkTree(ctx context.Context, last index, ids []age.Identity, top *dirRef, inc includeFilter) (RestoreResult, map[string]struct{}, error) {
	var res RestoreResult
	var dirs []*dirMeta
	restored := map[string]struct{}{}
	asRoot := os.Geteuid() == 0
	tc := newTreeCheckers(top, asRoot)
	batch := <-tc.free
	err := e.readManifest(ctx, last, ids, func(m *manifestEntry) error {
		name := string(m.Path)
		if m.Deleted {
			return nil
		}
		if !inc.match(name) {
			if m.Type == typeDir && inc.parent(name) {
				dirs = append(dirs, &dirMeta{name: name, uid: m.UID, gid: m.GID, mode: m.Mode, mtimeNS: m.MtimeNS, parentOnly: true})
			}
			return nil
		}
		switch m.Type {
		case typeDir:
			dirs = append(dirs, &dirMeta{name: name, uid: m.UID, gid: m.GID, mode: m.Mode, mtimeNS: m.MtimeNS})
			restored[name] = struct{}{}
		case typeSymlink:
			res.Files++
		default:
			res.Files++
			res.Bytes += m.Size
		}
		batch = append(batch, checkItem{m: *m})
		if len(batch) == checkBatch {
			if err := tc.queue(batch); err != nil {
				return err
			}
			batch = <-tc.free
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = tc.queue(batch)
	}
	if werr := tc.stop(); err == nil {
		err = werr
	}
	if err == nil {
		err = setDirMeta(top, dirs, asRoot)
	}
	if err != nil {
		return RestoreResult{}, nil, err
	}
	return res, restored, nil
}

const (
	checkBatch   = 256 // consecutive entries, which mostly share directories
	checkWorkers = 4
)

// typeModes maps a manifest entry's type to the type bits fileType gives.
var typeModes = map[string]fs.FileMode{typeFile: 0, typeDir: fs.ModeDir, typeSymlink: fs.ModeSymlink}

// checkItem is a manifest entry to check.
type checkItem struct {
	m manifestEntry
}

// dirMeta is a directory's metadata in the manifest. parentOnly marks the
// parent of an included path, which may not have been created.
type dirMeta struct {
	name       string
	uid, gid   int
	mode       uint32
	mtimeNS    int64
	parentOnly bool
}

// treeCheckers check entries on a few goroutines, each keeping its own
// directories open.
type treeCheckers struct {
	top    *dirRef
	asRoot bool
	jobs   chan []checkItem
	free   chan []checkItem
	procs  sync.WaitGroup

	firstError
}

func newTreeCheckers(top *dirRef, asRoot bool) *treeCheckers {
	w := &treeCheckers{top: top, asRoot: asRoot, jobs: make(chan []checkItem, checkWorkers), free: make(chan []checkItem, 2*checkWorkers+1)}
	for range 2 * checkWorkers {
		w.free <- make([]checkItem, 0, checkBatch)
	}
	for range checkWorkers {
		w.procs.Go(w.run)
	}
	return w
}

// queue hands a batch to the goroutines, or returns the first error one
// of them met.
func (w *treeCheckers) queue(batch []checkItem) error {
	if err := w.failed(); err != nil {
		return err
	}
	w.jobs <- batch
	return nil
}

func (w *treeCheckers) run() {
	dirs := dirStack{top: w.top}
	defer dirs.reset()
	for batch := range w.jobs {
		for i := range batch {
			if w.failed() != nil {
				break
			}
			if err := w.check(&dirs, &batch[i]); err != nil {
				w.fail(err)
			}
		}
		w.free <- batch[:0]
	}
}

// stop waits for the queued batches and returns the first error.
func (w *treeCheckers) stop() error {
	close(w.jobs)
	w.procs.Wait()
	return w.failed()
}

func (w *treeCheckers) check(dirs *dirStack, it *checkItem) error {
	m := &it.m
	name := string(m.Path)
	dir, base := splitName(name)
	d, err := dirs.enter(dir, false)
	if err != nil {
		return fmt.Errorf("%w: the directory of %s is missing after restore: %w", ErrCorrupt, name, err)
	}
	var st unix.Stat_t
	if err := lstatAt(d.fd, base, &st); err != nil {
		return fmt.Errorf("%w: %s missing after restore: %w", ErrCorrupt, name, &fs.PathError{Op: "lstat", Path: name, Err: err})
	}
	if got := fileType(st.Mode); got != typeModes[m.Type] || (m.Type == typeFile && st.Size != m.Size) {
		return fmt.Errorf("%w: %s restored as %v (%d bytes), manifest says %s (%d bytes)", ErrCorrupt, name, got, st.Size, m.Type, m.Size)
	}
	if m.Type == typeDir {
		return nil // set by setDirMeta, after its children
	}
	chowned := false
	if w.asRoot && (int(st.Uid) != m.UID || int(st.Gid) != m.GID) {
		if err := ignoringEINTR(func() error { return unix.Fchownat(d.fd, base, m.UID, m.GID, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "lchown", Path: name, Err: err})
		}
		chowned = true
	}
	// Chmod after chown, which clears setuid and setgid; symlinks have no mode.
	if m.Type == typeFile && (chowned || st.Mode&0o7777 != m.Mode&0o7777) {
		if err := chmodNoFollow(d.fd, base, m.Mode&0o7777); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "chmod", Path: name, Err: err})
		}
	}
	if st.Mtim.Nano() != m.MtimeNS {
		ts := mtimeSpec(m.MtimeNS)
		if err := ignoringEINTR(func() error { return unix.UtimesNanoAt(d.fd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "chtimes", Path: name, Err: err})
		}
	}
	return nil
}

// setDirMeta sets the directories' owners, modes and mtimes where they
// differ from the manifest, children before parents (the manifest in
// reverse walk order), each through its own descriptor. A directory is
// opened through its parent, which is changed only after it, so a mode
// without search permission is set last. A parent of included paths that
// none of them needed was never made, and is skipped.
func setDirMeta(top *dirRef, dirs []*dirMeta, asRoot bool) error {
	s := dirStack{top: top}
	defer s.reset()
	for i := len(dirs) - 1; i >= 0; i-- {
		m := dirs[i]
		d, err := s.enter(m.name, false)
		if m.parentOnly && errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		var st unix.Stat_t
		op, err := "stat", unix.Fstat(d.fd, &st)
		chowned := false
		if err == nil && asRoot && (int(st.Uid) != m.uid || int(st.Gid) != m.gid) {
			op, err, chowned = "chown", unix.Fchown(d.fd, m.uid, m.gid), true
		}
		if err == nil && (chowned || st.Mode&0o7777 != m.mode&0o7777) {
			op, err = "chmod", unix.Fchmod(d.fd, m.mode&0o7777)
		}
		if err == nil && st.Mtim.Nano() != m.mtimeNS {
			ts := mtimeSpec(m.mtimeNS)
			op, err = "chtimes", futimens(d.fd, &ts)
		}
		if err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: op, Path: m.name, Err: err})
		}
	}
	return nil
}
