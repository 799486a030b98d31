package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// tailBytes bounds how much of the log Tail reads: the newest lines only,
// however long the log has grown.
const tailBytes = 256 << 10

// Tail returns up to n of the newest entries, newest first, for the status
// page. It does not verify the chain (Verify does); a missing log has none.
func Tail(path string, n int) ([]Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat audit log: %w", err)
	}
	off := max(fi.Size()-tailBytes, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	lines := bytes.Split(bytes.TrimRight(buf, "\n"), []byte("\n"))
	if off > 0 && len(lines) > 0 {
		lines = lines[1:] // the first line read may be cut
	}
	var out []Entry
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		var r record
		if json.Unmarshal(lines[i], &r) == nil {
			out = append(out, r.Entry)
		}
	}
	return out, nil
}
