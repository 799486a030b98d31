package logs

import (
	"os"
	"syscall"
)

// fileID is the device and inode of a file, what identifies it across a
// rename.
func fileID(fi os.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return st.Dev, st.Ino, true
}
