package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// SFTP is a Destination on another machine reached over SFTP. The caller
// opens the client (internal/client, with the machine's host key pinned);
// SFTP only speaks the file protocol. Commit flushes with the
// fsync@openssh.com extension and renames with posix-rename@openssh.com, so a
// name either does not exist or holds the complete content.
type SFTP struct {
	Client *sftp.Client
	Path   string // Directory on the remote machine.
	// LockStale is how old a lock file may get before another run may break
	// it (a run killed with its lock held). Defaults to 6 hours.
	LockStale time.Duration
}

func (s SFTP) full(name string) (string, error) {
	if !fs.ValidPath(name) || name == "." {
		return "", fmt.Errorf("invalid object name %q", name)
	}
	return path.Join(s.Path, name), nil
}

// Create implements Destination.
func (s SFTP) Create(_ context.Context, name string) (Upload, error) {
	full, err := s.full(name)
	if err != nil {
		return nil, err
	}
	if err := s.Client.MkdirAll(path.Dir(full)); err != nil {
		return nil, fmt.Errorf("sftp mkdir %s: %w", path.Dir(full), err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(full), tempPrefix+hex.EncodeToString(rnd[:])+"-"+path.Base(full))
	f, err := s.Client.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, fmt.Errorf("sftp create %s: %w", tmp, err)
	}
	return &sftpUpload{c: s.Client, f: f, tmp: tmp, final: full}, nil
}

type sftpUpload struct {
	c          *sftp.Client
	f          *sftp.File
	tmp, final string
	done       bool

	// A handle of its own for reading back: reads on f would wait for
	// every write in flight.
	readOnce sync.Once
	r        *sftp.File
	rErr     error
}

func (u *sftpUpload) Write(p []byte) (int, error) { return u.f.Write(p) }

func (u *sftpUpload) ReadAt(p []byte, off int64) (int, error) {
	u.readOnce.Do(func() {
		if u.r, u.rErr = u.c.Open(u.tmp); u.rErr != nil {
			u.rErr = fmt.Errorf("sftp open %s to read it back: %w", u.tmp, u.rErr)
		}
	})
	if u.rErr != nil {
		return 0, u.rErr
	}
	return u.r.ReadAt(p, off)
}

// closeReader closes the read-back handle; a read after it fails.
func (u *sftpUpload) closeReader() {
	u.readOnce.Do(func() { u.rErr = os.ErrClosed })
	if u.r != nil {
		_ = u.r.Close() // opened for reading
	}
}

func (u *sftpUpload) Commit() error {
	u.closeReader()
	if err := u.f.Sync(); err != nil {
		_ = u.Abort()
		return fmt.Errorf("sftp fsync %s (the server needs the fsync@openssh.com extension): %w", u.tmp, err)
	}
	if err := u.f.Close(); err != nil {
		_ = u.Abort()
		return fmt.Errorf("sftp close %s: %w", u.tmp, err)
	}
	if err := u.c.PosixRename(u.tmp, u.final); err != nil {
		_ = u.Abort()
		return fmt.Errorf("sftp rename %s: %w", u.final, err)
	}
	u.done = true
	return nil
}

func (u *sftpUpload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	u.closeReader()
	_ = u.f.Close()
	if err := u.c.Remove(u.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sftp remove %s: %w", u.tmp, err)
	}
	return nil
}

// Open implements Destination.
func (s SFTP) Open(_ context.Context, name string) (io.ReadCloser, error) {
	full, err := s.full(name)
	if err != nil {
		return nil, err
	}
	f, err := s.Client.Open(full)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || os.IsNotExist(err) {
			return nil, fmt.Errorf("sftp open %s: %w", full, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("sftp open %s: %w", full, err)
	}
	return f, nil
}

// List implements Destination.
func (s SFTP) List(_ context.Context, prefix string) ([]string, error) {
	dir := strings.TrimSuffix(prefix, "/")
	full, err := s.full(dir)
	if err != nil {
		return nil, err
	}
	entries, err := s.Client.ReadDir(full)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("sftp list %s: %w", full, err)
	}
	var names []string
	for _, e := range entries {
		if e.Mode().IsRegular() && e.Name() != lockName {
			names = append(names, dir+"/"+e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Remove implements Destination.
func (s SFTP) Remove(_ context.Context, name string) error {
	full, err := s.full(name)
	if err != nil {
		return err
	}
	if err := s.Client.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) && !os.IsNotExist(err) {
		return fmt.Errorf("sftp remove %s: %w", full, err)
	}
	return nil
}

// Lock implements Destination with an exclusively created lock file; SFTP
// has no flock. A lock older than LockStale is taken to be left by a killed
// run and broken.
func (s SFTP) Lock(ctx context.Context, schedule string) (func() error, error) {
	full, err := s.full(schedule + "/" + lockName)
	if err != nil {
		return nil, err
	}
	if err := s.Client.MkdirAll(path.Dir(full)); err != nil {
		return nil, fmt.Errorf("sftp mkdir %s: %w", path.Dir(full), err)
	}
	stale := s.LockStale
	if stale <= 0 {
		stale = 6 * time.Hour
	}
	for {
		f, err := s.Client.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err == nil {
			host, _ := os.Hostname()
			_, _ = fmt.Fprintf(f, "%s %d %s\n", host, os.Getpid(), time.Now().UTC().Format(time.RFC3339))
			_ = f.Close()
			return func() error {
				if err := s.Client.Remove(full); err != nil && !os.IsNotExist(err) {
					return fmt.Errorf("sftp unlock %s: %w", full, err)
				}
				return nil
			}, nil
		}
		if fi, serr := s.Client.Stat(full); serr == nil && time.Since(fi.ModTime()) > stale {
			_ = s.Client.Remove(full)
			continue
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock schedule %s at %s: %w", schedule, full, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
