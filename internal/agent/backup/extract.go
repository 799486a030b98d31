package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

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
