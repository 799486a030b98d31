//go:build unix

package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openLog opens the log at path for appending, creating it 0600 and its
// directory 0700 when missing, without ever writing where someone else
// pointed it. The directory belongs to the log: it is opened without
// following a symlink and, when it is not the agent's own 0700 directory (a
// user who can write to /var/log, as group syslog can on Ubuntu, may have
// made it), it is made so through its descriptor, never by name again. The
// log is opened relative to that descriptor, again without following a
// symlink, and must be a regular file with one link, owned by the agent's
// user: anything else was put there by someone else, and is refused.
func openLog(path string) (*os.File, error) {
	dir, name := filepath.Dir(path), filepath.Base(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create directory: %w", err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("open directory %s: it is a symbolic link or not a directory, refusing to write through it", dir)
		}
		return nil, fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer func() { _ = unix.Close(dfd) }()
	if err := ownDirectory(dfd, dir); err != nil {
		return nil, err
	}
	// O_NONBLOCK: a FIFO planted at the name must not block the open.
	fd, err := unix.Openat(dfd, name, unix.O_RDWR|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.ELOOP) {
		return nil, errors.New("it is a symbolic link, refusing to write through it")
	}
	if err != nil {
		return nil, err
	}
	if err := checkLogFile(fd); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ownDirectory makes the directory open at dfd owned by the agent's user and
// mode 0700, unless it already is.
func ownDirectory(dfd int, dir string) error {
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return fmt.Errorf("stat directory %s: %w", dir, err)
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if int(st.Uid) != uid || int(st.Gid) != gid {
		if err := unix.Fchown(dfd, uid, gid); err != nil {
			return fmt.Errorf("directory %s is owned by uid %d and cannot be made the agent's own: %w", dir, st.Uid, err)
		}
	}
	if st.Mode&0o7777 != 0o700 {
		if err := unix.Fchmod(dfd, 0o700); err != nil {
			return fmt.Errorf("restrict directory %s to 0700: %w", dir, err)
		}
	}
	return nil
}

// checkLogFile refuses a log that is not a regular file with a single link
// owned by the agent's user: a device, a FIFO, a hard link to another file,
// or a file someone else created (and may still hold open for writing).
func checkLogFile(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return errors.New("it is not a regular file, refusing to write to it")
	case st.Nlink != 1:
		return fmt.Errorf("it has %d hard links, so it may be another file under a second name: refusing to write to it", st.Nlink)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("it is owned by uid %d, not by the agent's user (uid %d): someone else created it, so its lines cannot be trusted; inspect it and move it aside", st.Uid, os.Geteuid())
	}
	return nil
}
