package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrUnsafeDestination is wrapped by the error for a directory destination
// that another user could change while it is not marked shared.
var ErrUnsafeDestination = errors.New("another user could change it")

// checkTrusted checks that the directory dir (on the way to the
// destination root, or below it), as fstat describes it in st, is one no
// user but root (or the user the agent runs as) can change: owned by them,
// and writable by neither its group nor others. An ancestor of the
// destination may be writable by others when it has the sticky bit (/tmp),
// since others can then neither rename nor remove what they do not own; the
// destination and what is below it may not, or another user could create
// the schedule's directory first.
func checkTrusted(root, dir string, st *unix.Stat_t, ancestor bool) error {
	mode := st.Mode
	sticky := ancestor && mode&unix.S_ISVTX != 0
	var why string
	switch {
	case st.Uid != 0 && int(st.Uid) != os.Geteuid():
		why = "is owned by another user"
	case mode&0o002 != 0 && !sticky:
		why = "is writable by others"
	case mode&0o020 != 0 && !sticky:
		why = "is writable by its group"
	default:
		return nil
	}
	return &unsafeDestinationError{root: root, dir: dir, why: fmt.Sprintf("%s (owner %s, group %s, mode %04o)",
		why, describeID("uid", st.Uid, lookupUser), describeID("gid", st.Gid, lookupGroup), mode&0o7777)}
}

// checkTrustedFD is checkTrusted for the open directory dir below the
// destination root.
func checkTrustedFD(fd int, root, dir string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: dir, Err: err}
	}
	return checkTrusted(root, dir, &st, false)
}

type unsafeDestinationError struct {
	root, dir, why string
}

func (e *unsafeDestinationError) Error() string {
	return fmt.Sprintf("destination %s: %s %s: another user could swap what the agent writes there for a symlink and redirect "+
		"root's writes; use a destination that only root can change, or mark it shared (destination_shared = true; "+
		`"shared": true in the schedule's destination) if other users are meant to write it`, e.root, e.dir, e.why)
}

func (e *unsafeDestinationError) Unwrap() error { return ErrUnsafeDestination }

// Check reports whether the destination may be used as configured, before
// anything is written: the part of Path that exists is checked as a
// backup run would check it (no symlink on the way, and unless Shared,
// nothing another user could change). A missing part is no error; the
// first run creates it, owned by root and mode 0700.
func (d Dir) Check() error {
	if !path.IsAbs(d.Path) {
		return fmt.Errorf("destination %q is not an absolute path", d.Path)
	}
	dest := path.Clean(d.Path)
	for p := dest; ; p = path.Dir(p) {
		fd, err := openDestDir(p, dest, d.Shared, false)
		if err == nil {
			closeFD(fd)
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) || p == "/" {
			return err
		}
	}
}

// openDestDir opens dir, the destination dest or one of its ancestors,
// from "/" without following a symlink and, unless shared, checks every
// directory on the way; with create, what is missing is created.
func openDestDir(dir, dest string, shared, create bool) (int, error) {
	var visit func(string, *unix.Stat_t) error
	if !shared {
		visit = func(p string, st *unix.Stat_t) error { return checkTrusted(dest, p, st, p != dest) }
	}
	fd, err := openDirChain(dir, create, visit)
	if err != nil {
		var unsafe *unsafeDestinationError
		if errors.As(err, &unsafe) {
			return -1, err
		}
		return -1, fmt.Errorf("destination %s: %w", dest, err)
	}
	return fd, nil
}

func lookupUser(id string) string {
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return ""
}

func lookupGroup(id string) string {
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name
	}
	return ""
}

// describeID is "uid 1001 (nosudo)", or without the name when it has none.
func describeID(kind string, id uint32, lookup func(string) string) string {
	s := kind + " " + strconv.FormatUint(uint64(id), 10)
	if name := lookup(strconv.FormatUint(uint64(id), 10)); name != "" {
		return s + " (" + name + ")"
	}
	return s
}
