package history

import (
	"io"
	"io/fs"
	"os"

	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// fileSystem is what the store needs of the disk. Tests put a fault
// injector in front of the real one to make writes fail as a full disk does.
type fileSystem interface {
	OpenFile(name string, flag int, perm os.FileMode) (file, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	ReadDir(name string) ([]fs.DirEntry, error)
	MkdirAll(name string, perm os.FileMode) error
	SyncDir(name string) error
}

// file is the part of *os.File the store uses.
type file interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	Sync() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	Seek(offset int64, whence int) (int64, error)
	Fd() uintptr
}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }
func (osFS) SyncDir(name string) error                    { return atomicfile.SyncDir(name) }
