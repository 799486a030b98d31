package backup

import (
	"errors"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Restore writes through directory file descriptors and *at system calls.
// Every directory is opened from its parent's descriptor one component at a
// time with O_NOFOLLOW, and final components are created with O_EXCL or
// changed with AT_SYMLINK_NOFOLLOW, so a symlink in a snapshot (or placed in
// the tree while restoring) is never followed out of the restore directory.
// os.Root gives the same guarantee but re-resolves the whole path for every
// call and checks each component with readlinkat, and os.File registers
// every file with the poller; both cost several system calls per entry.

const (
	dirOpenFlags    = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fileCreateFlags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	// newFileMode is the mode a file has while it is written; its own
	// mode is set once the content is complete.
	newFileMode = 0o600
	newDirMode  = 0o700
)

// The wrappers below retry on EINTR, as package os does: some file
// systems (FUSE, network mounts) return it despite SA_RESTART.

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// ignoringEINTR2 is ignoringEINTR for a call that returns a value too.
func ignoringEINTR2[T any](fn func() (T, error)) (T, error) {
	for {
		if v, err := fn(); !errors.Is(err, unix.EINTR) {
			return v, err
		}
	}
}

func openDirAt(dir int, name string) (int, error) {
	return ignoringEINTR2(func() (int, error) { return unix.Openat(dir, name, dirOpenFlags, 0) })
}

func createAt(dir int, name string) (int, error) {
	return ignoringEINTR2(func() (int, error) { return unix.Openat(dir, name, fileCreateFlags, newFileMode) })
}

func mkdirAt(dir int, name string) error {
	return ignoringEINTR(func() error { return unix.Mkdirat(dir, name, newDirMode) })
}

func lstatAt(dir int, name string, st *unix.Stat_t) error {
	return ignoringEINTR(func() error { return unix.Fstatat(dir, name, st, unix.AT_SYMLINK_NOFOLLOW) })
}

func unlinkAt(dir int, name string, flags int) error {
	return ignoringEINTR(func() error { return unix.Unlinkat(dir, name, flags) })
}

// writeFull writes all of p at off, or at the file offset when off < 0.
func writeFull(fd int, p []byte, off int64) error {
	for len(p) > 0 {
		var n int
		var err error
		if off < 0 {
			n, err = unix.Write(fd, p)
		} else {
			n, err = unix.Pwrite(fd, p, off)
		}
		if n > 0 {
			p = p[n:]
			if off >= 0 {
				off += int64(n)
			}
		}
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return err
		case n == 0:
			return io.ErrShortWrite
		}
	}
	return nil
}

// futimens sets an open file's access and modification times with
// nanosecond precision: utimensat with a NULL path acts on the descriptor,
// which is how the C library implements futimens (x/sys/unix has no
// wrapper, and its Futimes goes through /proc with microseconds).
func futimens(fd int, ts *[2]unix.Timespec) error {
	return ignoringEINTR(func() error {
		if _, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0); errno != 0 {
			return errno
		}
		return nil
	})
}

// mtimeSpec gives access and modification time both as the entry's mtime,
// as restore always did.
func mtimeSpec(ns int64) [2]unix.Timespec {
	t := unix.NsecToTimespec(ns)
	return [2]unix.Timespec{t, t}
}

// chmodNoFollow changes the mode of name in dir without following a
// symlink there. fchmodat ignores AT_SYMLINK_NOFOLLOW; fchmodat2 (Linux
// 6.6) honours it, and before that the C library's way is chmod through
// /proc of an O_PATH descriptor, after checking it is no symlink.
func chmodNoFollow(dir int, name string, mode uint32) error {
	err := unix.Fchmodat(dir, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if !errors.Is(err, unix.EOPNOTSUPP) {
		return err
	}
	fd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(fd) }() // an O_PATH descriptor
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.ELOOP
	}
	return unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), mode, 0)
}

// fileMeta is what restore sets on a regular file once it is written.
type fileMeta struct {
	uid, gid int
	mode     uint32 // permission bits incl. setuid, setgid, sticky
	mtimeNS  int64
	chown    bool
}

// apply sets owner, mode and mtime on the open file fd, in that order:
// chown clears setuid and setgid, and the mtime goes last so nothing after
// it changes it. name is for errors.
func (f *fileMeta) apply(fd int, name string) error {
	if f.chown {
		if err := unix.Fchown(fd, f.uid, f.gid); err != nil {
			return &fs.PathError{Op: "chown", Path: name, Err: err}
		}
	}
	if err := unix.Fchmod(fd, f.mode&0o7777); err != nil {
		return &fs.PathError{Op: "chmod", Path: name, Err: err}
	}
	ts := mtimeSpec(f.mtimeNS)
	if err := futimens(fd, &ts); err != nil {
		return &fs.PathError{Op: "chtimes", Path: name, Err: err}
	}
	return nil
}

// writeNewFile creates base in dir and writes data and metadata to it.
func writeNewFile(dir int, base, name string, data []byte, meta *fileMeta) error {
	fd, err := createAt(dir, base)
	if err != nil {
		return &fs.PathError{Op: "create", Path: name, Err: err}
	}
	if len(data) > 0 {
		if err = writeFull(fd, data, -1); err != nil {
			err = &fs.PathError{Op: "write", Path: name, Err: err}
		}
	}
	if err == nil {
		err = meta.apply(fd, name)
	}
	if cerr := unix.Close(fd); cerr != nil && err == nil {
		err = &fs.PathError{Op: "close", Path: name, Err: cerr}
	}
	return err
}

// removeAllAt removes name in dir and, if it is a directory, everything
// below it, never following a symlink. A name that is not there is no
// error.
func removeAllAt(dir int, name string) error {
	err := unlinkAt(dir, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) { // Linux's answer for unlink of a directory
		return err
	}
	sub, err := openDirAt(dir, name)
	if err != nil {
		return err
	}
	err = removeChildren(sub)
	if cerr := unix.Close(sub); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := unlinkAt(dir, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// removeChildren removes everything in the open directory fd. It reads
// all names first: removing entries while reading on could skip some.
func removeChildren(fd int) error {
	names, err := readNames(fd)
	if err != nil {
		return err
	}
	for _, child := range names {
		if err := removeAllAt(fd, child); err != nil {
			return err
		}
	}
	return nil
}

// fileType maps a stat mode to the type bits of fs.FileMode, for messages.
func fileType(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}

// dirRef is an open directory shared by the directory stack and the file
// writers; it is closed when the last user releases it.
type dirRef struct {
	fd   int
	refs atomic.Int32
}

func newDirRef(fd int) *dirRef {
	d := &dirRef{fd: fd}
	d.refs.Store(1)
	return d
}

func (d *dirRef) hold() *dirRef {
	d.refs.Add(1)
	return d
}

func (d *dirRef) release() {
	if d.refs.Add(-1) == 0 {
		_ = unix.Close(d.fd) // a directory opened for reading
	}
}

// dirStack keeps the directories from the top of the restore down to the
// current one open. Entries arrive in walk order, so consecutive ones share
// a directory, a directory's entries all come before the stack moves on,
// and each directory is opened once: an operation on an entry costs one
// system call on its base name instead of one per path component.
type dirStack struct {
	top    *dirRef
	levels []dirLevel
}

type dirLevel struct {
	name string // the path component
	dir  *dirRef
}

// cur is the innermost open directory.
func (s *dirStack) cur() *dirRef {
	if len(s.levels) == 0 {
		return s.top
	}
	return s.levels[len(s.levels)-1].dir
}

// enter makes dir (a slash-separated path below the top, "" for the top)
// the innermost open directory and returns it. With create, missing
// components are created; an entry's own directory precedes it in the
// archive, so that is needed only when the include filter left a parent
// out, or in a chain. Errors are *fs.PathError with the failing prefix.
func (s *dirStack) enter(dir string, create bool) (*dirRef, error) {
	n, rest := s.match(dir)
	s.truncate(n)
	for rest != "" {
		var name string
		name, rest = firstComponent(rest)
		parent := s.cur().fd
		fd, err := openDirAt(parent, name)
		if create && errors.Is(err, unix.ENOENT) {
			if err = mkdirAt(parent, name); err == nil {
				fd, err = openDirAt(parent, name)
			}
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: strings.TrimSuffix(dir, "/"+rest), Err: err}
		}
		s.levels = append(s.levels, dirLevel{name: name, dir: newDirRef(fd)})
	}
	return s.cur(), nil
}

// match returns how many levels dir shares with the stack, and the rest
// of dir below them.
func (s *dirStack) match(dir string) (n int, rest string) {
	rest = dir
	for n < len(s.levels) && rest != "" {
		name := s.levels[n].name
		if !strings.HasPrefix(rest, name) || (len(rest) > len(name) && rest[len(name)] != '/') {
			break
		}
		rest = strings.TrimPrefix(rest[len(name):], "/")
		n++
	}
	return n, rest
}

// firstComponent splits the first component off a slash-separated path.
func firstComponent(p string) (first, rest string) {
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, ""
}

// truncate leaves the levels from n on, innermost first.
func (s *dirStack) truncate(n int) {
	for len(s.levels) > n {
		l := &s.levels[len(s.levels)-1]
		l.dir.release()
		*l = dirLevel{}
		s.levels = s.levels[:len(s.levels)-1]
	}
}

// reset closes every level.
func (s *dirStack) reset() { s.truncate(0) }

// lookup opens dir like enter but leaves the stack as it is, starting from
// the deepest level dir shares with it; the caller releases the result.
func (s *dirStack) lookup(dir string) (*dirRef, error) {
	n, rest := s.match(dir)
	d := s.top
	if n > 0 {
		d = s.levels[n-1].dir
	}
	d.hold()
	for rest != "" {
		var name string
		name, rest = firstComponent(rest)
		fd, err := openDirAt(d.fd, name)
		d.release()
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: strings.TrimSuffix(dir, "/"+rest), Err: err}
		}
		d = newDirRef(fd)
	}
	return d, nil
}

// splitName splits an archive name into its directory ("" for the top)
// and base name.
func splitName(name string) (dir, base string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}
