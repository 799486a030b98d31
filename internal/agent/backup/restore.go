package backup

import (
	"archive/tar"
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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
// temporary directory beside Target (every file's SHA-256 against the
// manifest, every archive's SHA-256 against the index); only then does it
// move into Target: by one rename when Target does not exist, or entry by
// entry into an existing directory. So a wrong key, a corrupt archive or a
// conflict leaves nothing partial under Target.
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
	inc := newIncludeFilter(opts.Include)
	if opts.DryRun {
		return e.dryRun(ctx, chain[len(chain)-1], opts, inc, target)
	}

	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, ".steward-restore-*")
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: create temporary directory beside %s: %w", target, err)
	}
	defer func() { _ = os.RemoveAll(tmp) }() // empty after a successful move

	res, err := e.applyChain(ctx, chain, opts.Identities, tmp, inc, opts.Progress)
	if err != nil {
		return RestoreResult{}, err
	}
	if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(tmp, target); err != nil {
			return RestoreResult{}, fmt.Errorf("restore: move into %s: %w", target, err)
		}
	} else if err := mergeInto(tmp, target, opts.Overwrite); err != nil {
		return RestoreResult{}, err
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

// applyChain restores chain into dir (a fresh directory) and checks it.
func (e *Engine) applyChain(ctx context.Context, chain []index, ids []age.Identity, dir string, inc includeFilter, progress func(int64, int64)) (RestoreResult, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	defer func() { _ = root.Close() }()
	p := &progressCounter{fn: progress}
	for _, ix := range chain {
		p.total += ix.ArchiveBytes
	}
	x := &extractor{dirs: dirCache{root: root}, root: root, inc: inc, buf: make([]byte, 256<<10), hash: sha256.New()}
	defer x.close()
	for _, ix := range chain {
		if err := e.applySnapshot(ctx, ix, ids, x, p); err != nil {
			return RestoreResult{}, e.classify(ctx, ix, err)
		}
	}
	last := chain[len(chain)-1]
	res, err := e.applyMetadata(ctx, last, ids, root, inc)
	if err != nil {
		return RestoreResult{}, e.classify(ctx, last, err)
	}
	return res, nil
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
	for _, obj := range []struct {
		name, sum string
		size      int64
	}{
		{archiveObject(ix.Schedule, ix.ID), ix.ArchiveSHA256, ix.ArchiveBytes},
		{manifestObject(ix.Schedule, ix.ID), ix.ManifestSHA256, ix.ManifestBytes},
	} {
		rc, err := e.Dest.Open(ctx, obj.name)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, ctxReader{ctx, rc})
		_ = rc.Close() // read-only
		if err != nil {
			return fmt.Errorf("read %s: %w", obj.name, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != obj.sum || n != obj.size {
			return fmt.Errorf("%w: %s has sha256 %s (%d bytes), index says %s (%d bytes)", ErrCorrupt, obj.name, got, n, obj.sum, obj.size)
		}
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

// finish reads to the end and compares the digest with want.
func (h *hashingReader) finish(name, want string, size int64) error {
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
	dec, err := zstd.NewReader(plain, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
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
	return hr.finish(name, ix.ManifestSHA256, ix.ManifestBytes)
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
	root := x.root
	mName := manifestObject(ix.Schedule, ix.ID)
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
	tr := tar.NewReader(aPlain)

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
				if err := removeBelow(root, string(m.Path)); err != nil {
					return nil, err
				}
				x.forgetDirs() // the deleted path may be a cached directory
				continue
			}
			if m.Stored {
				return m, nil
			}
		}
	}
	for {
		hdr, err := tr.Next()
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
		name := strings.TrimSuffix(hdr.Name, "/")
		if name != string(m.Path) {
			return fmt.Errorf("%w: archive %s entry %q does not match manifest entry %q", ErrCorrupt, aName, name, m.Path)
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("%w: archive %s entry %q is not a relative path", ErrCorrupt, aName, name)
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
	if err := aHash.finish(aName, ix.ArchiveSHA256, ix.ArchiveBytes); err != nil {
		return err
	}
	return mHash.finish(mName, ix.ManifestSHA256, ix.ManifestBytes)
}

// removeBelow deletes name unless one of its parents is no longer a real
// directory (then name is already gone, and following a symlink would
// delete something else).
func removeBelow(root *os.Root, name string) error {
	if !filepath.IsLocal(name) {
		return fmt.Errorf("%w: deletion of %q outside the tree", ErrCorrupt, name)
	}
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		// A parent that is gone or no directory means the path is already gone.
		if fi, err := root.Lstat(strings.Join(parts[:i], "/")); err != nil || !fi.IsDir() {
			return nil //nolint:nilerr // nothing to delete is success
		}
	}
	if err := root.RemoveAll(name); err != nil {
		return fmt.Errorf("restore: remove deleted %s: %w", name, err)
	}
	return nil
}

// extractor writes archive entries under root. Files left out by the
// include filter that other paths hard-link to are kept in a stash beside
// root, so an included link to an excluded first path still restores.
// dirCache keeps the directory of the previous entry open as an *os.Root.
// Entries arrive in walk order, so consecutive ones share a directory, and an
// operation on a base name in an open directory costs one system call
// instead of one per path component (os.Root resolves every component
// itself so that nothing escapes the target).
type dirCache struct {
	root *os.Root
	name string
	sub  *dirRef
}

// dirRef is an open directory shared with the extractor's file writers; it
// is closed when the last user releases it.
type dirRef struct {
	r    *os.Root
	refs atomic.Int32
}

// hold adds a user; d may be nil (the top directory, which is never closed
// while files are written).
func (d *dirRef) hold() *dirRef {
	if d != nil {
		d.refs.Add(1)
	}
	return d
}

func (d *dirRef) release() {
	if d != nil && d.refs.Add(-1) == 0 {
		_ = d.r.Close() // a directory opened for reading
	}
}

// split returns the open directory of name and name's base within it.
func (c *dirCache) split(name string) (*os.Root, string, error) {
	d, base, _, err := c.splitRef(name)
	return d, base, err
}

// splitRef is split that also returns the cache's reference to the
// directory (nil for the top directory), for hold.
func (c *dirCache) splitRef(name string) (*os.Root, string, *dirRef, error) {
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return c.root, base, nil, nil
	}
	if c.sub != nil && c.name == dir {
		return c.sub.r, base, c.sub, nil
	}
	c.close()
	sub, err := c.root.OpenRoot(dir)
	if err != nil {
		return nil, "", nil, err
	}
	c.sub, c.name = &dirRef{r: sub}, dir
	c.sub.refs.Store(1)
	return sub, base, c.sub, nil
}

func (c *dirCache) close() {
	if c.sub != nil {
		c.sub.release()
		c.sub, c.name = nil, ""
	}
}

type extractor struct {
	dirs     dirCache
	madeDir  string // the last directory ensured to exist
	root     *os.Root
	inc      includeFilter
	buf      []byte
	hash     hash.Hash
	stashDir string
	stash    map[string]string // archive name -> file in stashDir
	writers  *fileWriters      // started with the first regular file
}

// forgetDirs drops what the extractor remembers about directories, after a
// directory was removed.
func (x *extractor) forgetDirs() {
	x.dirs.close()
	x.madeDir = ""
}

func (x *extractor) close() {
	if x.writers != nil {
		x.writers.stop() // nothing may write into the tree once it is removed
	}
	x.dirs.close()
	if x.stashDir != "" {
		_ = os.RemoveAll(x.stashDir) // scratch copies only
	}
}

func (x *extractor) extract(tr *tar.Reader, hdr *tar.Header, m *manifestEntry) error {
	name := string(m.Path)
	if !x.inc.match(name) {
		if hdr.Typeflag == tar.TypeReg && m.Nlink > 1 {
			return x.keepForLinks(tr, m)
		}
		return nil
	}
	if x.writers != nil {
		if err := x.writers.failed(); err != nil {
			return err
		}
	}
	root := x.root
	if dir := path.Dir(name); dir != "." && dir != x.madeDir {
		if err := root.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("restore: create %s: %w", dir, err)
		}
		x.madeDir = dir
	}
	if x.writers.pending(name) {
		if err := x.drain(); err != nil { // an archive naming a path twice
			return err
		}
	}
	d, base, ref, err := x.dirs.splitRef(name)
	if err != nil {
		return fmt.Errorf("restore: open the directory of %s: %w", name, err)
	}
	if fi, err := d.Lstat(base); err == nil {
		if fi.IsDir() && hdr.Typeflag == tar.TypeDir {
			return nil // a directory that is still a directory: only metadata changes
		}
		// Removing may change what queued files' paths resolve to.
		if err := x.drain(); err != nil {
			return err
		}
		if fi.IsDir() {
			x.forgetDirs() // it may be a cached directory
		}
		if err := root.RemoveAll(name); err != nil {
			return fmt.Errorf("restore: replace %s: %w", name, err)
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := d.Mkdir(base, 0o700); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	case tar.TypeSymlink:
		if err := d.Symlink(hdr.Linkname, base); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	case tar.TypeLink:
		if x.writers.pending(hdr.Linkname) {
			if err := x.drain(); err != nil { // the target must be written first
				return err
			}
		}
		if stashed, ok := x.stash[hdr.Linkname]; ok && !x.inc.match(hdr.Linkname) {
			if err := os.Link(stashed, filepath.Join(root.Name(), name)); err != nil {
				return fmt.Errorf("restore hard link %s: %w", name, err)
			}
			return nil
		}
		if err := root.Link(hdr.Linkname, name); err != nil {
			return fmt.Errorf("restore hard link %s to %s: %w", name, hdr.Linkname, err)
		}
	case tar.TypeReg:
		return x.queueFile(tr, hdr, m, ref, base)
	default:
		return fmt.Errorf("%w: archive entry %q has unexpected type %q", ErrCorrupt, name, hdr.Typeflag)
	}
	return nil
}

// drain waits until every queued file is written and returns the first
// error writing one.
func (x *extractor) drain() error {
	if x.writers == nil {
		return nil
	}
	return x.writers.drain()
}

// queueFile reads a regular file's content into buffers, checks it against
// the manifest and hands the buffers to writer goroutines: creating and
// writing files is mostly kernel time, which several goroutines overlap.
// A small file is created by a writer; a larger one is created here and
// written in chunks at their offsets. d is the open directory of the file
// (nil: the top directory) and base its name there.
func (x *extractor) queueFile(tr *tar.Reader, hdr *tar.Header, m *manifestEntry, d *dirRef, base string) error {
	if x.writers == nil {
		x.writers = newFileWriters(x.root)
	}
	w := x.writers
	name := string(m.Path)
	x.hash.Reset()
	if hdr.Size <= writeChunk {
		buf := <-w.free
		n, err := io.ReadFull(tr, buf[:hdr.Size])
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
		w.queue(fileJob{dir: d.hold(), base: base, name: name, data: buf[:n]})
		return nil
	}
	dir := w.root
	if d != nil {
		dir = d.r
	}
	f, err := dir.OpenFile(base, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	sf := w.open(f, name)
	defer sf.release(w)
	var off int64
	for off < hdr.Size {
		if err := w.failed(); err != nil {
			return err
		}
		buf := <-w.free
		n, err := io.ReadFull(tr, buf[:min(hdr.Size-off, int64(len(buf)))])
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

// fileJob is a small file to create and write, or a chunk of a larger
// file opened already.
type fileJob struct {
	file *sharedFile // nil: create base in dir
	dir  *dirRef     // nil: the top directory
	base string
	name string
	data []byte
	off  int64
}

// sharedFile is a file being written by several chunk jobs; the last one
// to release it closes it.
type sharedFile struct {
	f    *os.File
	name string
	refs atomic.Int32
}

func (s *sharedFile) hold() *sharedFile {
	s.refs.Add(1)
	return s
}

func (s *sharedFile) release(w *fileWriters) {
	if s.refs.Add(-1) == 0 {
		if err := s.f.Close(); err != nil {
			w.fail(fmt.Errorf("restore %s: %w", s.name, err))
		}
		w.done(s.name)
	}
}

// fileWriters create, write and close files on a few goroutines. The
// names of files not yet written and closed are remembered, so that an
// entry that needs one of them (a hard link to it, or the same name again)
// can wait for it.
type fileWriters struct {
	root  *os.Root
	jobs  chan fileJob
	free  chan []byte
	wg    sync.WaitGroup // queued jobs
	procs sync.WaitGroup // goroutines

	mu    sync.Mutex
	names map[string]struct{} // queued, not yet written
	err   error
	bad   atomic.Bool
}

func newFileWriters(root *os.Root) *fileWriters {
	w := &fileWriters{
		root: root, jobs: make(chan fileJob, fileWriterBuffers),
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
		if !w.bad.Load() {
			if err := w.write(j); err != nil {
				w.fail(err)
			}
		}
		if j.file != nil {
			j.file.release(w)
		} else {
			j.dir.release()
			w.done(j.name)
		}
		w.free <- j.data[:cap(j.data)]
		w.wg.Done()
	}
}

func (w *fileWriters) write(j fileJob) error {
	if j.file != nil {
		if _, err := j.file.f.WriteAt(j.data, j.off); err != nil {
			return fmt.Errorf("restore %s: %w", j.name, err)
		}
		return nil
	}
	d := w.root
	if j.dir != nil {
		d = j.dir.r
	}
	f, err := d.OpenFile(j.base, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	_, err = f.Write(j.data)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", j.name, err)
	}
	return nil
}

// open registers a file that chunk jobs will write; the caller holds one
// reference.
func (w *fileWriters) open(f *os.File, name string) *sharedFile {
	w.mu.Lock()
	w.names[name] = struct{}{}
	w.mu.Unlock()
	s := &sharedFile{f: f, name: name}
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

func (w *fileWriters) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
		w.bad.Store(true)
	}
	w.mu.Unlock()
}

// pending reports whether name is queued and not yet written; w may be nil.
func (w *fileWriters) pending(name string) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.names[name]
	return ok
}

// failed returns the first error of a writer, if any.
func (w *fileWriters) failed() error {
	if !w.bad.Load() {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// drain waits until every queued job is done and returns the first error.
func (w *fileWriters) drain() error {
	w.wg.Wait()
	return w.failed()
}

// stop waits for the queued jobs and ends the goroutines.
func (w *fileWriters) stop() {
	close(w.jobs)
	w.procs.Wait()
}

func (x *extractor) keepForLinks(tr *tar.Reader, m *manifestEntry) error {
	if x.stashDir == "" {
		dir, err := os.MkdirTemp(filepath.Dir(x.root.Name()), ".steward-links-*")
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		x.stashDir, x.stash = dir, map[string]string{}
	}
	file := filepath.Join(x.stashDir, fmt.Sprint(len(x.stash)))
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	x.stash[string(m.Path)] = file
	return x.writeFile(f, tr, m)
}

// writeFile copies the entry's content into f and checks it against the
// manifest.
func (x *extractor) writeFile(f *os.File, tr *tar.Reader, m *manifestEntry) error {
	x.hash.Reset()
	n, err := io.CopyBuffer(io.MultiWriter(f, x.hash), tr, x.buf)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", m.Path, err)
	}
	if got := hex.EncodeToString(x.hash.Sum(nil)); got != m.SHA256 || n != m.Size {
		return fmt.Errorf("%w: %s restored with sha256 %s (%d bytes), manifest says %s (%d bytes)", ErrCorrupt, m.Path, got, n, m.SHA256, m.Size)
	}
	return nil
}

// applyMetadata walks the final manifest: it checks that every entry is
// there with the right type and size, then sets owners (as root), modes
// and mtimes; directories last, so creating their children cannot disturb
// their mtimes. Entries go in batches to a few goroutines, which overlap
// the system calls; directories' modes and mtimes are set here at the end,
// children before parents.
func (e *Engine) applyMetadata(ctx context.Context, last index, ids []age.Identity, root *os.Root, inc includeFilter) (RestoreResult, error) {
	var res RestoreResult
	type dirMeta struct {
		name  string
		mode  uint32
		mtime time.Time
	}
	var dirs []dirMeta
	mw := newMetaWriters(root, os.Geteuid() == 0)
	batch := make([]manifestEntry, 0, metaBatch)
	err := e.readManifest(ctx, last, ids, func(m *manifestEntry) error {
		name := string(m.Path)
		if m.Deleted || !inc.match(name) {
			return nil
		}
		switch m.Type {
		case typeDir:
			dirs = append(dirs, dirMeta{name, m.Mode, m.mtime()})
		case typeSymlink:
			res.Files++
		default:
			res.Files++
			res.Bytes += m.Size
		}
		batch = append(batch, *m)
		if len(batch) == metaBatch {
			if err := mw.queue(batch); err != nil {
				return err
			}
			batch = <-mw.free
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = mw.queue(batch)
	}
	if werr := mw.stop(); err == nil {
		err = werr
	}
	if err != nil {
		return RestoreResult{}, err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if err := root.Chmod(d.name, fileMode(d.mode)); err != nil {
			return RestoreResult{}, fmt.Errorf("restore: %w", err)
		}
		if err := root.Chtimes(d.name, d.mtime, d.mtime); err != nil {
			return RestoreResult{}, fmt.Errorf("restore: %w", err)
		}
	}
	return res, nil
}

const (
	metaBatch   = 256 // consecutive entries, which mostly share directories
	metaWorkers = 4
)

// metaWriters check restored entries and set their owners, modes and
// mtimes (directories: owners only) on a few goroutines.
type metaWriters struct {
	root   *os.Root
	asRoot bool
	jobs   chan []manifestEntry
	free   chan []manifestEntry
	procs  sync.WaitGroup

	mu  sync.Mutex
	err error
	bad atomic.Bool
}

func newMetaWriters(root *os.Root, asRoot bool) *metaWriters {
	w := &metaWriters{root: root, asRoot: asRoot, jobs: make(chan []manifestEntry, metaWorkers), free: make(chan []manifestEntry, 2*metaWorkers+1)}
	for range 2 * metaWorkers {
		w.free <- make([]manifestEntry, 0, metaBatch)
	}
	for range metaWorkers {
		w.procs.Go(w.run)
	}
	return w
}

// queue hands a batch to the goroutines, or returns the first error one
// of them met.
func (w *metaWriters) queue(batch []manifestEntry) error {
	if err := w.failed(); err != nil {
		return err
	}
	w.jobs <- batch
	return nil
}

func (w *metaWriters) run() {
	cache := dirCache{root: w.root}
	defer cache.close()
	for batch := range w.jobs {
		for i := range batch {
			if w.bad.Load() {
				break
			}
			if err := w.apply(&cache, &batch[i]); err != nil {
				w.mu.Lock()
				if w.err == nil {
					w.err = err
					w.bad.Store(true)
				}
				w.mu.Unlock()
			}
		}
		w.free <- batch[:0]
	}
}

func (w *metaWriters) failed() error {
	if !w.bad.Load() {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// stop waits for the queued batches and returns the first error.
func (w *metaWriters) stop() error {
	close(w.jobs)
	w.procs.Wait()
	return w.failed()
}

func (w *metaWriters) apply(cache *dirCache, m *manifestEntry) error {
	name := string(m.Path)
	d, base, err := cache.split(name)
	if err != nil {
		return fmt.Errorf("%w: the directory of %s is missing after restore: %w", ErrCorrupt, name, err)
	}
	fi, err := d.Lstat(base)
	if err != nil {
		return fmt.Errorf("%w: %s missing after restore: %w", ErrCorrupt, name, err)
	}
	want := map[string]fs.FileMode{typeFile: 0, typeDir: fs.ModeDir, typeSymlink: fs.ModeSymlink}[m.Type]
	if fi.Mode().Type() != want || (m.Type == typeFile && fi.Size() != m.Size) {
		return fmt.Errorf("%w: %s restored as %v (%d bytes), manifest says %s (%d bytes)", ErrCorrupt, name, fi.Mode().Type(), fi.Size(), m.Type, m.Size)
	}
	if w.asRoot {
		if err := d.Lchown(base, m.UID, m.GID); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	switch m.Type {
	case typeDir:
		return nil
	case typeSymlink:
		ts := []unix.Timespec{unix.NsecToTimespec(m.MtimeNS), unix.NsecToTimespec(m.MtimeNS)}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(w.root.Name(), name), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("restore: set mtime of %s: %w", name, err)
		}
		return nil
	}
	// Chmod after chown: chown clears setuid and setgid bits.
	if err := d.Chmod(base, fileMode(m.Mode)); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := d.Chtimes(base, m.mtime(), m.mtime()); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// mergeInto moves the restored tree src into the existing directory dst.
// It checks every conflict before moving anything.
func mergeInto(src, dst string, overwrite bool) error {
	check := func(rel string, d fs.DirEntry) (exists bool, err error) {
		fi, err := os.Lstat(filepath.Join(dst, rel))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("restore: %w", err)
		}
		switch {
		case fi.IsDir() && d.IsDir():
			return true, nil
		case fi.IsDir():
			return true, fmt.Errorf("restore %s: %w (a directory, which restore never replaces with a file)", filepath.Join(dst, rel), ErrExists)
		case !overwrite:
			return true, fmt.Errorf("restore %s: %w", filepath.Join(dst, rel), ErrExists)
		}
		return true, nil
	}
	walk := func(fn func(rel string, d fs.DirEntry) error) error {
		return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(src, p)
			if err != nil || rel == "." {
				return err
			}
			return fn(rel, d)
		})
	}
	// Pass 1: find conflicts.
	if err := walk(func(rel string, d fs.DirEntry) error {
		exists, err := check(rel, d)
		if err != nil {
			return err
		}
		if !exists && d.IsDir() {
			return fs.SkipDir // moves as a whole
		}
		return nil
	}); err != nil {
		return err
	}
	// Pass 2: move.
	type mergedDir struct {
		rel string
		fi  fs.FileInfo // taken before moving children out changes its mtime
	}
	var merged []mergedDir
	if err := walk(func(rel string, d fs.DirEntry) error {
		to := filepath.Join(dst, rel)
		fi, err := os.Lstat(to)
		if err == nil && fi.IsDir() && d.IsDir() {
			srcInfo, err := d.Info()
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			merged = append(merged, mergedDir{rel, srcInfo})
			return nil
		}
		if err == nil && d.IsDir() {
			if err := os.Remove(to); err != nil { // a file or symlink where a directory goes; overwrite is set
				return fmt.Errorf("restore: %w", err)
			}
		}
		if err := os.Rename(filepath.Join(src, rel), to); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	}); err != nil {
		return err
	}
	for i := len(merged) - 1; i >= 0; i-- {
		to, fi := filepath.Join(dst, merged[i].rel), merged[i].fi
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
			_ = os.Lchown(to, int(st.Uid), int(st.Gid)) // best effort on an existing directory
		}
		if err := os.Chmod(to, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if err := os.Chtimes(to, fi.ModTime(), fi.ModTime()); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	return nil
}
