package backup

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// A restore runs as root on hosts where other users own the directories it
// writes into: their home directories, shared data. So it never looks a path
// up twice and never follows a symlink. The target's own path is opened one
// component at a time without following symlinks; the tree is restored and
// checked in a work directory only this process can enter; and the move into
// place works on directory descriptors it holds, with renameat and fchown,
// fchmod and futimens on the descriptor of the very directory it checked. A
// user who swaps a directory for a symlink mid-restore changes nothing but
// their own files.

// openDirPath opens the directory p from "/", one component at a time
// with O_NOFOLLOW. With create, missing components are made with mode
// perm. A symlink anywhere in p is an error: its owner could point it
// anywhere between one look and the next.
func openDirPath(p string, create bool, perm uint32) (*dirRef, error) {
	p, err := filepath.Abs(p)
	if err != nil {
		return nil, err
	}
	fd, err := openDirAt(unix.AT_FDCWD, "/")
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	d := newDirRef(fd)
	done := "/"
	for _, name := range strings.Split(strings.Trim(filepath.Clean(p), "/"), "/") {
		if name == "" {
			continue
		}
		done = filepath.Join(done, name)
		fd, err := openDirAt(d.fd, name)
		if create && errors.Is(err, unix.ENOENT) {
			if err = ignoringEINTR(func() error { return unix.Mkdirat(d.fd, name, perm) }); err == nil || errors.Is(err, unix.EEXIST) {
				fd, err = openDirAt(d.fd, name)
			}
		}
		if err != nil {
			err = describeOpenErr(d.fd, name, done, err)
		}
		d.release()
		if err != nil {
			return nil, err
		}
		d = newDirRef(fd)
	}
	return d, nil
}

// describeOpenErr explains a failed no-follow open of directory name in
// dir (p for messages): O_DIRECTORY makes a symlink ENOTDIR, not ELOOP.
func describeOpenErr(dir int, name, p string, err error) error {
	var st unix.Stat_t
	if errors.Is(err, unix.ELOOP) || (errors.Is(err, unix.ENOTDIR) && lstatAt(dir, name, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK) {
		return fmt.Errorf("%s is a symlink, which restore does not follow (give the path it points to): %w", p, unix.ELOOP)
	}
	return &fs.PathError{Op: "open", Path: p, Err: err}
}

// workDir is a fresh directory beside (or, for "/", inside) the restore
// target that only this process's user can enter. It holds the tree being
// restored ("tree") and the copies that hard links to excluded files need
// ("links"), so neither is ever reachable by another user.
type workDir struct {
	parent *dirRef
	name   string
	dir    *dirRef
	tree   *dirRef
}

const (
	workTree  = "tree"
	workLinks = "links"
)

// newWorkDir makes a work directory in parent. Its owner and mode are
// checked through the opened descriptor: a user who can write parent could
// otherwise swap in a directory of their own between mkdir and open. It
// holds an flock on the directory while it lives, so that the next work
// directory made with the same prefix can sweep what a killed process left
// (a restore's plaintext) without touching one still in use.
func newWorkDir(parent *dirRef, prefix string) (*workDir, error) {
	sweepWorkDirs(parent, prefix)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("work directory name: %w", err)
	}
	name := prefix + hex.EncodeToString(b[:])
	if err := mkdirAt(parent.fd, name); err != nil {
		return nil, &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	fd, err := openDirAt(parent.fd, name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	w := &workDir{parent: parent.hold(), name: name, dir: newDirRef(fd)}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || int(st.Uid) != unix.Geteuid() || st.Mode&0o077 != 0 || unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		w.dir.release()
		w.parent.release()
		return nil, fmt.Errorf("work directory %s was replaced while it was made (owner %d, mode %o): %w", name, st.Uid, st.Mode&0o7777, errors.Join(err, ErrChanged))
	}
	if err := mkdirAt(fd, workTree); err != nil {
		w.remove()
		return nil, &fs.PathError{Op: "mkdir", Path: name + "/" + workTree, Err: err}
	}
	tfd, err := openDirAt(fd, workTree)
	if err != nil {
		w.remove()
		return nil, &fs.PathError{Op: "open", Path: name + "/" + workTree, Err: err}
	}
	w.tree = newDirRef(tfd)
	return w, nil
}

// remove deletes everything in the work directory through its descriptor,
// then its (now empty) name.
func (w *workDir) remove() {
	if w.tree != nil {
		w.tree.release()
	}
	_ = removeChildren(w.dir.fd) // scratch data of this process
	w.dir.release()
	var st unix.Stat_t
	if lstatAt(w.parent.fd, w.name, &st) == nil && int(st.Uid) == unix.Geteuid() {
		_ = unlinkAt(w.parent.fd, w.name, unix.AT_REMOVEDIR) // only if empty, so never someone else's
	}
	w.parent.release()
}

// sweepWorkDirs removes the work directories with prefix in parent that no
// live process holds: ours (owned by this user), unlocked. Best effort: a
// leftover that cannot be removed now is tried again next time.
func sweepWorkDirs(parent *dirRef, prefix string) {
	names, err := readNames(parent.fd)
	if err != nil {
		return
	}
	for _, name := range names {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		fd, err := openDirAt(parent.fd, name)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && int(st.Uid) == unix.Geteuid() && unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
			if removeChildren(fd) == nil {
				_ = unlinkAt(parent.fd, name, unix.AT_REMOVEDIR) // only if still empty
			}
		}
		_ = unix.Close(fd) // releases the flock
	}
}

// ErrChanged means a directory a restore works in was changed under it by
// someone else; nothing was followed, and the restore stopped.
var ErrChanged = errors.New("changed by someone else during the restore")

// merger moves a checked tree into an existing directory. restored names
// the directories the snapshot restores: only those get the snapshot's
// owner, mode and times. The others are there only as parents of what was
// restored, and an existing directory keeps its own.
type merger struct {
	restored  map[string]struct{}
	overwrite bool
	// hook, when set, runs after each entry is moved; tests use it to
	// change the target as a racing user would.
	hook func(rel string)
}

// place moves the checked tree of work to base in parent: by one rename
// when nothing is there, else merged into the directory that is.
func (m *merger) place(work *workDir, parent *dirRef, base string) error {
	if base == "" {
		return m.merge(work.tree.fd, parent.fd)
	}
	err := renameAt(work.dir.fd, workTree, parent.fd, base, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOTEMPTY) {
		return fmt.Errorf("restore: %w", &fs.PathError{Op: "move into place", Path: base, Err: err})
	}
	dst, err := openDirAt(parent.fd, base)
	if err != nil {
		return fmt.Errorf("restore: %w", describeOpenErr(parent.fd, base, base, err))
	}
	defer func() { _ = unix.Close(dst) }() // a directory opened for reading
	return m.merge(work.tree.fd, dst)
}

// merge checks every conflict first, then moves.
func (m *merger) merge(src, dst int) error {
	if err := m.walk(src, dst, "", m.check); err != nil {
		return err
	}
	return m.move(src, dst, "")
}

// walk calls fn for every entry of src (a directory of the tree) with dst,
// the target directory at the same place. fn says whether to descend.
func (m *merger) walk(src, dst int, rel string, fn func(src, dst int, name, rel string, st *unix.Stat_t) (descend bool, err error)) error {
	names, err := readNames(src)
	if err != nil {
		return fmt.Errorf("restore: read %s: %w", relOrTop(rel), err)
	}
	for _, name := range names {
		child := joinRel(rel, name)
		var st unix.Stat_t
		if err := lstatAt(src, name, &st); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "lstat", Path: child, Err: err})
		}
		descend, err := fn(src, dst, name, child, &st)
		if err != nil || !descend {
			if err != nil {
				return err
			}
			continue
		}
		if err := m.descend(src, dst, name, child, fn); err != nil {
			return err
		}
	}
	return nil
}

// descend walks the directory name, open in both trees.
func (m *merger) descend(src, dst int, name, rel string, fn func(int, int, string, string, *unix.Stat_t) (bool, error)) error {
	sfd, err := openDirAt(src, name)
	if err != nil {
		return fmt.Errorf("restore: %w", &fs.PathError{Op: "open", Path: rel, Err: err})
	}
	defer func() { _ = unix.Close(sfd) }() // a directory opened for reading
	dfd, err := openDirAt(dst, name)
	if err != nil {
		return changedErr(rel, err)
	}
	defer func() { _ = unix.Close(dfd) }() // a directory opened for reading
	return m.walk(sfd, dfd, rel, fn)
}

// check finds what would stop the move: a directory where a file goes,
// or any existing file without overwrite.
func (m *merger) check(_, dst int, name, rel string, st *unix.Stat_t) (bool, error) {
	var have unix.Stat_t
	err := lstatAt(dst, name, &have)
	if errors.Is(err, unix.ENOENT) {
		return false, nil // moves as a whole
	}
	if err != nil {
		return false, fmt.Errorf("restore: %w", &fs.PathError{Op: "lstat", Path: rel, Err: err})
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch haveDir := have.Mode&unix.S_IFMT == unix.S_IFDIR; {
	case haveDir && isDir:
		return true, nil
	case haveDir:
		return false, fmt.Errorf("restore %s: %w (a directory, which restore never replaces with a file)", rel, ErrExists)
	case !m.overwrite:
		return false, fmt.Errorf("restore %s: %w", rel, ErrExists)
	}
	return false, nil
}

// move moves every entry of src into dst. A name not in dst moves as a
// whole, with RENAME_NOREPLACE so that nothing that appeared since the
// check is replaced; a directory present in both is merged and then, if
// the snapshot restores it, given the snapshot's metadata through the
// descriptor it was merged through. A file replaces what is there by one
// rename, which replaces the name and never follows it.
func (m *merger) move(src, dst int, rel string) error {
	return m.walk(src, dst, rel, func(src, dst int, name, rel string, st *unix.Stat_t) (bool, error) {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return false, m.moveDir(src, dst, name, rel, st)
		}
		flags := uint(0)
		if !m.overwrite {
			flags = unix.RENAME_NOREPLACE
		}
		if err := renameAt(src, name, dst, name, flags); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return false, fmt.Errorf("restore %s: %w", rel, ErrExists)
			}
			if errors.Is(err, unix.EISDIR) {
				return false, fmt.Errorf("restore %s: %w (a directory, which restore never replaces with a file)", rel, ErrExists)
			}
			return false, fmt.Errorf("restore: %w", &fs.PathError{Op: "move into place", Path: rel, Err: err})
		}
		m.moved(rel)
		return false, nil
	})
}

func (m *merger) moveDir(src, dst int, name, rel string, st *unix.Stat_t) error {
	dfd, err := openDirAt(dst, name)
	switch {
	case errors.Is(err, unix.ENOENT):
		if err := renameAt(src, name, dst, name, unix.RENAME_NOREPLACE); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "move into place", Path: rel, Err: err})
		}
		m.moved(rel)
		return nil
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR):
		// A file or symlink where the directory goes; overwrite is set,
		// or the check would have refused it.
		if !m.overwrite {
			return fmt.Errorf("restore %s: %w", rel, ErrExists)
		}
		if err := unlinkAt(dst, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "replace", Path: rel, Err: err})
		}
		if err := renameAt(src, name, dst, name, unix.RENAME_NOREPLACE); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "move into place", Path: rel, Err: err})
		}
		m.moved(rel)
		return nil
	case err != nil:
		return fmt.Errorf("restore: %w", &fs.PathError{Op: "open", Path: rel, Err: err})
	}
	defer func() { _ = unix.Close(dfd) }() // a directory opened for reading
	sfd, err := openDirAt(src, name)
	if err != nil {
		return fmt.Errorf("restore: %w", &fs.PathError{Op: "open", Path: rel, Err: err})
	}
	err = m.move(sfd, dfd, rel)
	_ = unix.Close(sfd) // a directory opened for reading
	if err != nil {
		return err
	}
	m.moved(rel)
	if _, ok := m.restored[rel]; !ok {
		return nil
	}
	return setMetaFD(dfd, rel, st)
}

func (m *merger) moved(rel string) {
	if m.hook != nil {
		m.hook(rel)
	}
}

// setMetaFD gives the open directory fd the owner, mode and mtime of st
// (the restored copy, taken before its children moved out), only where
// they differ. chown goes first: it clears setuid and setgid.
func setMetaFD(fd int, rel string, st *unix.Stat_t) error {
	var have unix.Stat_t
	if err := unix.Fstat(fd, &have); err != nil {
		return fmt.Errorf("restore: %w", &fs.PathError{Op: "stat", Path: rel, Err: err})
	}
	chowned := false
	if unix.Geteuid() == 0 && (have.Uid != st.Uid || have.Gid != st.Gid) {
		if err := unix.Fchown(fd, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "chown", Path: rel, Err: err})
		}
		chowned = true
	}
	if chowned || have.Mode&0o7777 != st.Mode&0o7777 {
		if err := unix.Fchmod(fd, st.Mode&0o7777); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "chmod", Path: rel, Err: err})
		}
	}
	if have.Mtim != st.Mtim {
		ts := [2]unix.Timespec{st.Mtim, st.Mtim}
		if err := futimens(fd, &ts); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "chtimes", Path: rel, Err: err})
		}
	}
	return nil
}

func renameAt(olddir int, oldname string, newdir int, newname string, flags uint) error {
	err := ignoringEINTR(func() error { return unix.Renameat2(olddir, oldname, newdir, newname, flags) })
	if flags&unix.RENAME_NOREPLACE != 0 && errors.Is(err, unix.EINVAL) {
		// A file system without RENAME_NOREPLACE (NFS, some FUSE): a
		// plain rename, which replaces at most an empty directory or the
		// file that appeared since the check.
		err = ignoringEINTR(func() error { return unix.Renameat(olddir, oldname, newdir, newname) })
	}
	return err
}

// changedErr reports a directory of the target that is no longer one.
func changedErr(rel string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("restore %s: the directory is gone or no longer a directory: %w", rel, ErrChanged)
	}
	return fmt.Errorf("restore: %w", &fs.PathError{Op: "open", Path: rel, Err: err})
}

// readNames reads every name in the open directory fd, from its start
// whatever an earlier read left.
func readNames(fd int) ([]string, error) {
	if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
		return nil, err
	}
	var names []string
	buf := make([]byte, 8<<10)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names) // without "." and ".."
	}
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func relOrTop(rel string) string {
	if rel == "" {
		return "the restored tree"
	}
	return rel
}
