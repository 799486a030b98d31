package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// Destination is where snapshots are stored. Names are slash-separated and
// relative ("<schedule>/<id>.index"). Implementations must make Commit atomic:
// a name either does not exist or holds the complete content.
type Destination interface {
	// Create starts writing name. Nothing is visible under name until
	// Commit succeeds; Abort discards the upload.
	Create(ctx context.Context, name string) (Upload, error)
	// Open reads a committed object. A missing object is fs.ErrNotExist.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// List returns the names under prefix (a "<schedule>/" folder), sorted,
	// including leftovers of aborted uploads, which start with ".tmp-" in
	// their base name so the engine can sweep them.
	List(ctx context.Context, prefix string) ([]string, error)
	// Remove deletes name. Removing a missing name is not an error, so it is
	// idempotent.
	Remove(ctx context.Context, name string) error
	// Lock takes the per-schedule lock, waiting until ctx is done. The lock
	// keeps two runs of one schedule (possibly on two hosts sharing the
	// destination) from interleaving.
	Lock(ctx context.Context, schedule string) (unlock func() error, err error)
}

// Upload is an object being written to a Destination.
type Upload interface {
	io.Writer
	// ReadAt reads back content written so far, from the destination
	// itself, so a backup checks what was stored, not what it meant to
	// store. It may be called concurrently with Write, before Commit.
	io.ReaderAt
	// Commit makes the content durable and visible under its name.
	Commit() error
	// Abort discards the upload. It may be called after Commit (then it does
	// nothing) and more than once.
	Abort() error
}

// Dir is a Destination in a local directory, which may be an NFS mount.
//
// The agent writes there as root, and the directory may be one other
// users can write (a shared directory, an NFS export), so nothing in it is
// reached by a path: Path is opened from "/" one component at a time with
// O_NOFOLLOW, and every directory and file below it by one name in its
// parent's descriptor, also with O_NOFOLLOW. Temporary files are created
// with O_EXCL, the lock file is opened with O_NOFOLLOW, and renames and
// removals are renameat and unlinkat in the descriptor of the directory
// that holds the name, none of which follows a symlink. A symlink anywhere
// on the way is an error that names it; it is never followed.
//
// Unless Shared is set, every directory from "/" to the one holding a file
// must also be one that no other user can change (see checkTrusted):
// otherwise a user could swap a name for a symlink or a directory of their
// own between two runs, and the refusal names the directory, its owner and
// mode.
type Dir struct {
	Path string
	// Shared accepts a destination that other users own or may write
	// (destination_shared in steward_backup_schedule): they can then
	// delete or replace the snapshots, which restore detects but cannot
	// undo, but they still cannot make the agent follow a symlink.
	Shared bool
}

var _ Destination = Dir{}

// tempPrefix starts the names of uploads and state files being written.
const tempPrefix = atomicfile.TempPrefix

// tempSuffix makes temporary names unique; a test replaces it to plant
// symlinks under the names an upload will try.
var tempSuffix = func() string { return strconv.FormatUint(uint64(rand.Uint32()), 10) }

// display is the path of name in the destination, for messages.
func (d Dir) display(name string) string { return path.Join(d.Path, name) }

// openRoot opens the destination directory, creating what is missing of
// it when create is set.
func (d Dir) openRoot(create bool) (int, error) {
	if !path.IsAbs(d.Path) {
		return -1, fmt.Errorf("destination %q is not an absolute path", d.Path)
	}
	return openDestDir(path.Clean(d.Path), path.Clean(d.Path), d.Shared, create)
}

// openParent opens the directory that holds name (slash-separated,
// relative) and returns it with name's base name. With create, missing
// directories are created (mode 0700).
func (d Dir) openParent(name string, create bool) (int, string, error) {
	clean := path.Clean(name)
	if path.IsAbs(clean) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return -1, "", fmt.Errorf("destination name %q escapes %s", name, d.Path)
	}
	fd, err := d.openRoot(create)
	if err != nil {
		return -1, "", err
	}
	dirs, base := path.Split(clean)
	prefix := path.Clean(d.Path)
	for _, c := range strings.Split(strings.TrimSuffix(dirs, "/"), "/") {
		if c == "" {
			continue
		}
		parent := fd
		prefix += "/" + c
		fd, err = openDirIn(parent, c, prefix, create, errSymlinkInDestination)
		closeFD(parent)
		if err == nil && !d.Shared {
			err = checkTrustedFD(fd, d.Path, prefix)
		}
		if err != nil {
			if fd >= 0 {
				closeFD(fd)
			}
			return -1, "", err
		}
	}
	return fd, base, nil
}

// errSymlinkInDestination is wrapped by the error for a symlink found
// inside the destination.
var errSymlinkInDestination = errors.New("is a symbolic link, which the destination never follows")

// noFollowError is the error of op on file, saying so when file is a
// symlink, which O_NOFOLLOW answers with ELOOP.
func noFollowError(op, file string, err error) error {
	if errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("%s %s: %s %w", op, file, file, errSymlinkInDestination)
	}
	return fmt.Errorf("%s %s: %w", op, file, err)
}

// Create implements Destination.
func (d Dir) Create(_ context.Context, name string) (Upload, error) {
	dir, base, err := d.openParent(name, true)
	if err != nil {
		return nil, err
	}
	// O_EXCL never follows a symlink, whoever planted one under the name.
	for try := 0; ; try++ {
		tmp := tempPrefix + base + "-" + tempSuffix()
		fd, err := ignoringEINTR2(func() (int, error) {
			return unix.Openat(dir, tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		})
		if errors.Is(err, unix.EEXIST) && try < 100 {
			continue
		}
		if err != nil {
			closeFD(dir)
			return nil, fmt.Errorf("create %s: %w", d.display(name), err)
		}
		return &dirUpload{f: os.NewFile(uintptr(fd), path.Join(path.Dir(d.display(name)), tmp)), dir: dir, tmp: tmp, base: base,
			final: d.display(name)}, nil
	}
}

type dirUpload struct {
	f         *os.File
	dir       int // holds tmp and base; closed when the upload is finished
	tmp, base string
	final     string
	done      bool
	written   int64
	flushed   int64 // bytes handed to writeback so far
}

// writebackChunk is how much an upload lets pile up in the page cache
// before it starts writing it out: Commit's fsync then waits for the last
// few megabytes instead of the whole archive.
const writebackChunk = 8 << 20

func (u *dirUpload) Write(p []byte) (int, error) {
	n, err := u.f.Write(p)
	u.written += int64(n)
	if u.written-u.flushed >= writebackChunk {
		// Only starts the writeback; an error shows up in Commit's fsync.
		_ = unix.SyncFileRange(int(u.f.Fd()), u.flushed, u.written-u.flushed, unix.SYNC_FILE_RANGE_WRITE)
		u.flushed = u.written
	}
	return n, err
}

func (u *dirUpload) ReadAt(p []byte, off int64) (int, error) { return u.f.ReadAt(p, off) }

func (u *dirUpload) Commit() (err error) {
	if u.done {
		return errors.New("commit " + u.final + ": upload already finished")
	}
	defer func() {
		if err != nil {
			_ = u.Abort()
		}
	}()
	if err := u.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", u.f.Name(), err)
	}
	if err := u.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", u.f.Name(), err)
	}
	// renameat replaces whatever is at base, a symlink included, and
	// never follows it.
	if err := ignoringEINTR(func() error { return unix.Renameat(u.dir, u.tmp, u.dir, u.base) }); err != nil {
		return fmt.Errorf("rename %s to %s: %w", u.f.Name(), u.final, err)
	}
	u.done = true
	defer closeFD(u.dir)
	if err := unix.Fsync(u.dir); err != nil {
		return fmt.Errorf("sync directory of %s: %w", u.final, err)
	}
	return nil
}

func (u *dirUpload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	defer closeFD(u.dir)
	_ = u.f.Close() // the content is being thrown away
	if err := unlinkAt(u.dir, u.tmp, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", u.f.Name(), err)
	}
	return nil
}

// Open implements Destination.
func (d Dir) Open(_ context.Context, name string) (io.ReadCloser, error) {
	dir, base, err := d.openParent(name, false)
	if err != nil {
		return nil, err
	}
	defer closeFD(dir)
	fd, err := openReadAt(dir, base)
	if err != nil {
		return nil, noFollowError("open", d.display(name), err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		closeFD(fd)
		return nil, fmt.Errorf("open %s: not a regular file", d.display(name))
	}
	return os.NewFile(uintptr(fd), d.display(name)), nil
}

// List implements Destination.
func (d Dir) List(_ context.Context, prefix string) ([]string, error) {
	dirName := strings.TrimSuffix(prefix, "/")
	dir, base, err := d.openParent(dirName, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	fd, err := openDirAt(dir, base)
	if err == nil && !d.Shared {
		if err = checkTrustedFD(fd, d.Path, d.display(dirName)); err != nil {
			closeFD(fd)
		}
	}
	closeFD(dir)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, noFollowError("list", d.display(dirName), err)
	}
	defer closeFD(fd)
	entries, err := readDirAt(fd, make([]byte, 8<<10))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.display(dirName), err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries { // sorted by name
		if e.name == lockName {
			continue
		}
		names = append(names, dirName+"/"+e.name)
	}
	return names, nil
}

// Remove implements Destination.
func (d Dir) Remove(_ context.Context, name string) error {
	dir, base, err := d.openParent(name, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer closeFD(dir)
	if err := unlinkAt(dir, base, 0); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", d.display(name), err)
	}
	if err := unix.Fsync(dir); err != nil {
		return fmt.Errorf("sync directory of %s: %w", d.display(name), err)
	}
	return nil
}

const lockName = ".lock"

// Lock implements Destination with flock(2) on "<schedule>/.lock". On NFS the
// Linux client maps flock to NFS byte-range locks, so hosts sharing the mount
// exclude each other too.
func (d Dir) Lock(ctx context.Context, schedule string) (func() error, error) {
	name := schedule + "/" + lockName
	dir, base, err := d.openParent(name, true)
	if err != nil {
		return nil, err
	}
	full := d.display(name)
	// O_CREAT with O_NOFOLLOW fails with ELOOP on a symlink rather than
	// create or open its target; O_NONBLOCK keeps a FIFO from blocking.
	fd, err := ignoringEINTR2(func() (int, error) {
		return unix.Openat(dir, base, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	})
	closeFD(dir)
	if err != nil {
		return nil, noFollowError("open lock", full, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		closeFD(fd)
		return nil, fmt.Errorf("open lock %s: not a regular file", full)
	}
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			closeFD(fd)
			return nil, fmt.Errorf("lock %s: %w", full, err)
		}
		select {
		case <-ctx.Done():
			closeFD(fd)
			return nil, fmt.Errorf("lock schedule %s: %w", schedule, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return func() error {
		// Closing the descriptor releases the flock.
		if err := unix.Close(fd); err != nil {
			return fmt.Errorf("unlock %s: %w", full, err)
		}
		return nil
	}, nil
}
