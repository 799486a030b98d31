package logs

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Which file is this: a file is known by its device and inode, and by a
// fingerprint of its first bytes, since an inode freed by a deleted file
// is soon another file's.

// openSame opens path if it is still the file of pos (same inode, same
// first bytes), and returns its size; else nil.
func openSame(path string, pos position) (*os.File, int64, error) {
	f, err := openLogFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	size, same, err := isFileAt(f, pos)
	if err != nil || !same {
		_ = f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

// findRotated looks beside path for the file of pos under another name
// (app.log.1, app.log-20240101): logrotate renamed it while the forwarder
// was not reading.
func findRotated(path string, pos position) (*os.File, int64, error) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("read directory %s: %w", dir, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if dev, ino, ok := fileID(fi); !ok || dev != pos.Dev || ino != pos.Inode {
			continue
		}
		f, size, err := openSame(filepath.Join(dir, e.Name()), pos)
		if err != nil || f != nil {
			return f, size, err
		}
	}
	return nil, 0, nil
}

func isFileAt(f *os.File, pos position) (size int64, same bool, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	if dev, ino, ok := fileID(fi); !ok || dev != pos.Dev || ino != pos.Inode {
		return 0, false, nil
	}
	if pos.Head == "" {
		return fi.Size(), true, nil
	}
	head, err := readHead(f, pos.Offset)
	if err != nil {
		return 0, false, err
	}
	return fi.Size(), fingerprint(head) == pos.Head, nil
}

// readHead reads the first min(upTo, headLen) bytes of f (fewer if it is
// shorter).
func readHead(f *os.File, upTo int64) ([]byte, error) {
	buf := make([]byte, min(upTo, headLen))
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return buf[:n], nil
}

// fingerprint is a short hash of a file's first bytes: it tells a file
// from another that got the same inode, without keeping log text in the
// state file.
func fingerprint(head []byte) string {
	if len(head) == 0 {
		return ""
	}
	h := fnv.New64a()
	_, _ = h.Write(head) // hash.Hash never fails
	return strconv.FormatUint(h.Sum64(), 16)
}
