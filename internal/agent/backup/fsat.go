package backup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Descriptor-relative helpers for the backup walk and the directory
// destination; restore_fs.go has the ones the restore shares (openDirAt,
// lstatAt, ignoringEINTR). A path given by the operator is opened from "/"
// one component at a time with O_NOFOLLOW, and everything below it by name
// in its parent's descriptor, so no path is resolved twice.

// fileReadFlags opens a file to read its content. O_NOFOLLOW fails with
// ELOOP on a symlink; O_NONBLOCK keeps a FIFO from blocking the open (it
// does not affect regular files); O_NOCTTY keeps a terminal from becoming
// the agent's.
const fileReadFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC

func openReadAt(dir int, name string) (int, error) {
	return ignoringEINTR2(func() (int, error) { return unix.Openat(dir, name, fileReadFlags, 0) })
}

func closeFD(fd int) { _ = unix.Close(fd) } // descriptors opened for reading or of directories

// readlinkAt reads the target of the symlink name in dir.
func readlinkAt(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := ignoringEINTR2(func() (int, error) { return unix.Readlinkat(dir, name, buf) })
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// dirEntry is a name read from a directory with its type from the
// directory entry (unix.DT_UNKNOWN where the file system gives none).
type dirEntry struct {
	name string
	typ  uint8
}

// readDirAt reads every entry of the open directory fd but "." and "..",
// sorted by name as os.ReadDir sorts them. buf is scratch space.
func readDirAt(fd int, buf []byte) ([]dirEntry, error) {
	var out []dirEntry
	for {
		n, err := ignoringEINTR2(func() (int, error) { return unix.ReadDirent(fd, buf) })
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		out = appendDirents(out, buf[:n])
	}
	slices.SortFunc(out, func(a, b dirEntry) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// appendDirents parses linux_dirent64 records: d_ino (8 bytes), d_off (8),
// d_reclen (2), d_type (1), then the NUL-terminated name.
func appendDirents(out []dirEntry, b []byte) []dirEntry {
	const nameOff = 19
	for len(b) >= nameOff {
		reclen := int(binary.NativeEndian.Uint16(b[16:]))
		if reclen < nameOff || reclen > len(b) {
			break
		}
		name := b[nameOff:reclen]
		if i := slices.Index(name, 0); i >= 0 {
			name = name[:i]
		}
		if s := string(name); s != "." && s != ".." {
			out = append(out, dirEntry{name: s, typ: b[18]})
		}
		b = b[reclen:]
	}
	return out
}

// ErrSymlinkInPath is wrapped by the error for a configured path that
// has a symlink among its directories.
var ErrSymlinkInPath = errors.New("is a symbolic link, and configured paths are resolved without following symlinks: configure the path it points to")

// openDirChain opens the directory abs (absolute and clean) from "/", one
// component at a time, never following a symlink. visit, if not nil, sees
// each directory as it is opened ("/" first), with its fstat; an error
// from visit stops the walk. A missing component is created (mode 0700)
// when create is set.
func openDirChain(abs string, create bool, visit func(prefix string, st *unix.Stat_t) error) (int, error) {
	fd, err := openDirAt(unix.AT_FDCWD, "/")
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	prefix := ""
	rest := strings.TrimPrefix(abs, "/")
	for {
		if visit != nil {
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				closeFD(fd)
				return -1, &fs.PathError{Op: "stat", Path: orRoot(prefix), Err: err}
			}
			if err := visit(orRoot(prefix), &st); err != nil {
				closeFD(fd)
				return -1, err
			}
		}
		if rest == "" {
			return fd, nil
		}
		var name string
		name, rest = firstComponent(rest)
		prefix += "/" + name
		sub, err := openDirIn(fd, name, prefix, create, ErrSymlinkInPath)
		closeFD(fd)
		if err != nil {
			return -1, err
		}
		fd = sub
	}
}

// openDirIn opens the directory name in dir without following a symlink,
// creating it (mode 0700) when it is missing and create is set; prefix is
// its path, for errors, and symlinkErr what a symlink there is.
func openDirIn(dir int, name, prefix string, create bool, symlinkErr error) (int, error) {
	fd, err := openDirAt(dir, name)
	if create && errors.Is(err, unix.ENOENT) {
		if err = mkdirAt(dir, name); err == nil || errors.Is(err, unix.EEXIST) {
			fd, err = openDirAt(dir, name)
		}
	}
	if err != nil {
		return -1, explainOpenDir(dir, name, prefix, err, symlinkErr)
	}
	return fd, nil
}

// explainOpenDir turns the error of opening name in dir as a directory
// into one that says why: O_NOFOLLOW answers ELOOP (or ENOTDIR, with
// O_DIRECTORY) for a symlink, which becomes "<prefix> <symlinkErr>".
func explainOpenDir(dir int, name, prefix string, err, symlinkErr error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		if lstatAt(dir, name, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return fmt.Errorf("%s %w", prefix, symlinkErr)
		}
	}
	return &fs.PathError{Op: "open", Path: prefix, Err: err}
}

func orRoot(prefix string) string {
	if prefix == "" {
		return "/"
	}
	return prefix
}

// openParentNoFollow opens the directory that holds abs (absolute and
// clean) without following a symlink on the way, and returns it with the
// base name of abs; for "/" it opens "/" and the base name is "".
func openParentNoFollow(abs string) (dir int, base string, err error) {
	if abs == "/" {
		fd, err := openDirChain("/", false, nil)
		return fd, "", err
	}
	i := strings.LastIndexByte(abs, '/')
	fd, err := openDirChain(orRoot(abs[:i]), false, nil)
	return fd, abs[i+1:], err
}

// lstatNoFollow is lstat of abs that follows no symlink in its directories
// either, so it describes what the backup walk will find.
func lstatNoFollow(abs string, st *unix.Stat_t) error {
	dir, base, err := openParentNoFollow(abs)
	if err != nil {
		return err
	}
	defer closeFD(dir)
	if base == "" {
		return unix.Fstat(dir, st)
	}
	if err := lstatAt(dir, base, st); err != nil {
		return &fs.PathError{Op: "lstat", Path: abs, Err: err}
	}
	return nil
}
