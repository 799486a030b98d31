package core

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// RootOnly reports an error unless only root can change path: the file
// (after symlinks) and every directory above it are owned by root and not
// writable by group or others (a sticky directory, such as /tmp, may be).
// The root agent reads or runs such files; whoever may replace one would
// run code, or grant access, as root.
func RootOnly(path string) error {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	for p, first := resolved, true; ; p, first = filepath.Dir(p), false {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		writable := fi.Mode().Perm()&0o022 != 0
		if !first && fi.Mode()&os.ModeSticky != 0 {
			writable = false
		}
		if !ok || st.Uid != 0 || writable {
			uid := int64(-1)
			if ok {
				uid = int64(st.Uid)
			}
			what := "it"
			if !first {
				what = "its directory " + p
			}
			return fmt.Errorf("%s can be changed by a user other than root (%s is %s, owner uid %d): only root may be able to change it", path, what, fi.Mode(), uid)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// CheckRootProgram reports why path cannot be a program the root agent
// runs (a custom metric's command, a command channel's): missing, not an
// executable regular file, or changeable by a user other than root.
func CheckRootProgram(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file on the host")
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return errors.New("not a regular file")
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("not executable (mode %04o)", fi.Mode().Perm())
	}
	return RootOnly(path)
}
