package logs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// openLogFile opens a log file to read without following a symbolic link
// anywhere in path: from "/" one component at a time with O_NOFOLLOW. The
// forwarder reads as root, and whoever may write a log's directory (the
// program that logs there) could otherwise put a link to /etc/shadow in
// the log's place and have its content sent to the receiver. The file
// must be a regular file: a FIFO or a device planted there is refused
// (O_NONBLOCK keeps a FIFO from blocking the open itself).
func openLogFile(path string) (*os.File, error) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	dir, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	for i, name := range parts[:len(parts)-1] {
		next, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		_ = unix.Close(dir)
		if err != nil {
			return nil, noFollowErr("/"+strings.Join(parts[:i+1], "/"), err)
		}
		dir = next
	}
	fd, err := unix.Openat(dir, parts[len(parts)-1], unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	_ = unix.Close(dir)
	if err != nil {
		return nil, noFollowErr(path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("open %s: not a regular file, refusing to read it", path)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		_ = unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// noFollowErr keeps "does not exist" recognisable (a file not there yet
// is waited for) and says what to do about a symbolic link.
func noFollowErr(path string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("open %s: a symbolic link (or not a directory), which log files are never read through; give the real path", path)
	}
	return &os.PathError{Op: "open", Path: path, Err: err}
}
