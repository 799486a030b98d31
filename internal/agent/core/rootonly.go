package core

import (
	"fmt"
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
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	for p, first := real, true; ; p, first = filepath.Dir(p), false {
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
