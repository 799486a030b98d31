package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// GenesisPrev is the prev of the first line in a log.
var GenesisPrev = strings.Repeat("0", sha256.Size*2)

// Entry is one change the agent made.
type Entry struct {
	Time     time.Time    `json:"time"` // Set to the current time when zero.
	Operator api.Operator `json:"operator"`
	Object   string       `json:"object"`           // What was changed, e.g. "steward_backup_schedule/etc".
	Action   string       `json:"action"`           // What was done, e.g. "create", "update", "delete", "revert".
	Before   string       `json:"before,omitempty"` // Digest of the object before, e.g. "sha256:<hex>"; empty when it did not exist.
	After    string       `json:"after,omitempty"`  // Digest of the object after; empty when it no longer exists.
	Result   string       `json:"result"`           // "ok", or what went wrong.
}

// record is the line as written: the entry, who the agent saw run it, and the
// link to the line before. Observed is set by Append, never by the caller;
// lines written before it existed lack it and still verify, as the chain
// covers a line's bytes, whatever fields they hold.
type record struct {
	Entry
	Observed Observed `json:"observed,omitzero"`
	Prev     string   `json:"prev"`
}

// BrokenError reports the first line at which the chain of a log breaks.
type BrokenError struct {
	Path   string
	Line   int // 1-based.
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit log %s is broken at line %d: %s", e.Path, e.Line, e.Reason)
}

// lineHash is the hex SHA-256 of one line's bytes without its newline.
func lineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// Append adds e to the log at path, creating the log (0600) and its directory
// (0700) when missing. It returns only once the line is on disk. Beside the
// operator e claims, the line records who the agent observes running it.
//
// The log's directory belongs to the log: Append makes it the agent's own,
// mode 0700, when it is not. It never writes through a symlink, and refuses a
// log that is not a regular file with one link owned by the agent's user.
//
// A log whose last line was cut short (the host crashed mid-write) is not
// repaired: the cut line is ended with a newline and the new line chains to
// its bytes, so Verify keeps reporting it and no change goes unrecorded.
func Append(path string, e Entry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	f, err := openLog(path)
	if err != nil {
		return fmt.Errorf("append to audit log %s: %w", path, err)
	}
	defer func() { _ = f.Close() }() // the line is fsynced before; closing only releases the lock
	if err := lockFile(f); err != nil {
		return fmt.Errorf("append to audit log %s: lock: %w", path, err)
	}
	// Closing the file releases the lock.
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("append to audit log %s: %w", path, err)
	}
	if fi.Mode().Perm() != 0o600 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("append to audit log %s: restrict mode to 0600: %w", path, err)
		}
	}
	last, complete, err := lastLine(f, fi.Size())
	if err != nil {
		return fmt.Errorf("append to audit log %s: read last line: %w", path, err)
	}
	rec := record{Entry: e, Observed: observe(os.Getenv), Prev: GenesisPrev}
	if last != nil {
		rec.Prev = lineHash(last)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("append to audit log %s: encode entry: %w", path, err)
	}
	var buf []byte
	if !complete {
		buf = append(buf, '\n')
	}
	buf = append(append(buf, line...), '\n')
	// One write: with O_APPEND the line lands whole at the end of the file.
	if _, err := f.Write(buf); err != nil {
		return fmt.Errorf("append to audit log %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("append to audit log %s: sync: %w", path, err)
	}
	return nil
}

// lastLine returns the bytes of the last line of f (size bytes long) without
// its newline, nil for an empty file, and whether the file ends with a
// newline. It reads backwards, so appending to a long log stays cheap.
func lastLine(f *os.File, size int64) (line []byte, complete bool, err error) {
	if size == 0 {
		return nil, true, nil
	}
	const chunk = 4096
	var tail []byte
	end := size
	for end > 0 {
		start := max(end-chunk, 0)
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, false, err
		}
		tail = append(buf[:len(buf):len(buf)], tail...)
		end = start
		// tail runs to the end of the file; its own final newline ends the
		// last line rather than starting it.
		body := bytes.TrimSuffix(tail, []byte("\n"))
		if i := bytes.LastIndexByte(body, '\n'); i >= 0 {
			tail = tail[i+1:]
			break
		}
	}
	complete = tail[len(tail)-1] == '\n'
	return bytes.TrimSuffix(tail, []byte("\n")), complete, nil
}

// Verify checks the whole chain of the log at path and returns the number of
// lines it holds. When the chain is broken it returns the number of lines
// before the break and a *BrokenError naming the first broken line.
func Verify(path string) (lines int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("verify audit log %s: %w", path, err)
	}
	defer func() { _ = f.Close() }() // read-only
	r := bufio.NewReader(f)
	want := GenesisPrev
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) == 0 {
				return n - 1, nil
			}
			return n - 1, &BrokenError{Path: path, Line: n, Reason: "the line is incomplete (no newline at the end of the file): the log was truncated or a write was cut short"}
		}
		if err != nil {
			return n - 1, fmt.Errorf("verify audit log %s: read line %d: %w", path, n, err)
		}
		line = line[:len(line)-1]
		if reason := checkLine(line, want, n); reason != "" {
			return n - 1, &BrokenError{Path: path, Line: n, Reason: reason}
		}
		want = lineHash(line)
	}
}

// checkLine returns why line n does not continue a chain whose previous line
// hashes to want, or "" when it does.
func checkLine(line []byte, want string, n int) string {
	if len(bytes.TrimSpace(line)) == 0 {
		return "the line is empty"
	}
	var link struct {
		Prev *string `json:"prev"`
	}
	if err := json.Unmarshal(line, &link); err != nil {
		return fmt.Sprintf("the line is not a JSON object: %v", err)
	}
	switch {
	case link.Prev == nil:
		return "the line has no prev hash"
	case *link.Prev == want:
		return ""
	case n == 1:
		return "prev is not the start of a log: lines before it were removed"
	default:
		return fmt.Sprintf("prev does not match the SHA-256 of line %d: line %d was edited, or lines around it were removed or reordered", n-1, n-1)
	}
}
