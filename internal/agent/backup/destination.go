package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
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
type Dir struct {
	Path string
}

var _ Destination = Dir{}

// tempPrefix starts the names of uploads and state files being written.
const tempPrefix = atomicfile.TempPrefix

func (d Dir) full(name string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(name))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || clean == "." {
		return "", fmt.Errorf("destination name %q escapes %s", name, d.Path)
	}
	return filepath.Join(d.Path, clean), nil
}

// Create implements Destination.
func (d Dir) Create(_ context.Context, name string) (Upload, error) {
	full, err := d.full(name)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(full)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+filepath.Base(full)+"-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", full, err)
	}
	return &dirUpload{f: f, final: full}, nil
}

type dirUpload struct {
	f       *os.File
	final   string
	done    bool
	written int64
	flushed int64 // bytes handed to writeback so far
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
	if err := os.Rename(u.f.Name(), u.final); err != nil {
		return fmt.Errorf("rename %s to %s: %w", u.f.Name(), u.final, err)
	}
	u.done = true
	return atomicfile.SyncDir(filepath.Dir(u.final))
}

func (u *dirUpload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	_ = u.f.Close() // the content is being thrown away
	if err := os.Remove(u.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", u.f.Name(), err)
	}
	return nil
}

// Open implements Destination.
func (d Dir) Open(_ context.Context, name string) (io.ReadCloser, error) {
	full, err := d.full(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(full)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", full, err)
	}
	return f, nil
}

// List implements Destination.
func (d Dir) List(_ context.Context, prefix string) ([]string, error) {
	dirName := strings.TrimSuffix(prefix, "/")
	full, err := d.full(dirName)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", full, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Name() == lockName {
			continue
		}
		names = append(names, dirName+"/"+e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// Remove implements Destination.
func (d Dir) Remove(_ context.Context, name string) error {
	full, err := d.full(name)
	if err != nil {
		return err
	}
	if err := os.Remove(full); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", full, err)
	}
	return atomicfile.SyncDir(filepath.Dir(full))
}

const lockName = ".lock"

// Lock implements Destination with flock(2) on "<schedule>/.lock". On NFS the
// Linux client maps flock to NFS byte-range locks, so hosts sharing the mount
// exclude each other too.
func (d Dir) Lock(ctx context.Context, schedule string) (func() error, error) {
	full, err := d.full(schedule + "/" + lockName)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
		return nil, fmt.Errorf("create directory %s: %w", filepath.Dir(full), err)
	}
	f, err := os.OpenFile(full, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", full, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", full, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("lock schedule %s: %w", schedule, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return func() error {
		// Closing the descriptor releases the flock.
		if err := f.Close(); err != nil {
			return fmt.Errorf("unlock %s: %w", full, err)
		}
		return nil
	}, nil
}
