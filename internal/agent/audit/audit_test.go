package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

var testOperator = api.Operator{LocalUser: "ann", SSHUser: "deploy", KeyFingerprint: "SHA256:abc"}

// writeLog appends n entries to a new log and returns its path and lines.
func writeLog(t *testing.T, n int) (string, [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "var", "log", "steward", "audit.log")
	if n == 0 {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		e := Entry{
			Time:     time.Date(2025, 3, 1, 12, 0, i, 0, time.UTC),
			Operator: testOperator,
			Object:   fmt.Sprintf("steward_backup_schedule/b%d", i+1),
			Action:   "create",
			After:    "sha256:" + strings.Repeat("ab", 32),
			Result:   "ok",
		}
		if err := Append(path, e); err != nil {
			t.Fatalf("Append %d: %v", i+1, err)
		}
	}
	return path, readLines(t, path)
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(data, []byte("\n"))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		lines     int
		tamper    func(lines [][]byte) [][]byte
		wantLines int
		wantBreak int // 0: the log is intact.
		wantWhy   string
	}{
		{name: "intact", lines: 4, wantLines: 4},
		{name: "empty log", lines: 0, wantLines: 0},
		{
			name: "edited middle line", lines: 4,
			tamper: func(l [][]byte) [][]byte {
				l[1] = bytes.Replace(l[1], []byte(`"result":"ok"`), []byte(`"result":"no"`), 1)
				return l
			},
			wantLines: 2, wantBreak: 3, wantWhy: "line 2 was edited",
		},
		{
			name: "edited prev to hide an edit", lines: 3,
			tamper: func(l [][]byte) [][]byte {
				l[1] = bytes.Replace(l[1], []byte(`"prev":"`), []byte(`"prev":"f`), 1)
				return l
			},
			wantLines: 1, wantBreak: 2,
		},
		{
			name: "deleted middle line", lines: 4,
			tamper:    func(l [][]byte) [][]byte { return append(l[:1:1], l[2:]...) },
			wantLines: 1, wantBreak: 2, wantWhy: "removed",
		},
		{
			name: "deleted first line", lines: 3,
			tamper:    func(l [][]byte) [][]byte { return l[1:] },
			wantLines: 0, wantBreak: 1, wantWhy: "lines before it were removed",
		},
		{
			name: "reordered lines", lines: 4,
			tamper: func(l [][]byte) [][]byte {
				l[1], l[2] = l[2], l[1]
				return l
			},
			wantLines: 1, wantBreak: 2, wantWhy: "reordered",
		},
		{
			name: "truncated last line", lines: 3,
			tamper: func(l [][]byte) [][]byte {
				l[2] = l[2][:len(l[2])/2]
				return l
			},
			wantLines: 2, wantBreak: 3, wantWhy: "incomplete",
		},
		{
			name: "last newline removed", lines: 2,
			tamper: func(l [][]byte) [][]byte {
				l[1] = bytes.TrimSuffix(l[1], []byte("\n"))
				return l
			},
			wantLines: 1, wantBreak: 2, wantWhy: "incomplete",
		},
		{
			name: "blank line inserted", lines: 3,
			tamper:    func(l [][]byte) [][]byte { return append(l[:2:2], append([][]byte{[]byte("\n")}, l[2:]...)...) },
			wantLines: 2, wantBreak: 3, wantWhy: "empty",
		},
		{
			name: "line without prev", lines: 2,
			tamper: func(l [][]byte) [][]byte {
				return append(l, []byte(`{"object":"x","action":"create"}`+"\n"))
			},
			wantLines: 2, wantBreak: 3, wantWhy: "no prev",
		},
		{
			name: "garbage appended", lines: 2,
			tamper:    func(l [][]byte) [][]byte { return append(l, []byte("rm -rf /\n")) },
			wantLines: 2, wantBreak: 3, wantWhy: "not a JSON object",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, lines := writeLog(t, tt.lines)
			if tt.tamper != nil {
				if err := os.WriteFile(path, bytes.Join(tt.tamper(lines), nil), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			n, err := Verify(path)
			if n != tt.wantLines {
				t.Errorf("Verify lines = %d, want %d", n, tt.wantLines)
			}
			if tt.wantBreak == 0 {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			var broken *BrokenError
			if !errors.As(err, &broken) {
				t.Fatalf("Verify error = %v, want a *BrokenError", err)
			}
			if broken.Line != tt.wantBreak {
				t.Errorf("broken at line %d, want %d: %v", broken.Line, tt.wantBreak, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("line %d", tt.wantBreak)) || !strings.Contains(err.Error(), tt.wantWhy) {
				t.Errorf("error %q should name line %d and say %q", err, tt.wantBreak, tt.wantWhy)
			}
		})
	}
}

func TestVerify_missingFile(t *testing.T) {
	t.Parallel()
	_, err := Verify(filepath.Join(t.TempDir(), "audit.log"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Verify of a missing log = %v, want a not-exist error", err)
	}
}

func TestAppend_lineFormat(t *testing.T) {
	t.Parallel()
	path, lines := writeLog(t, 2)
	var first, second map[string]any
	if err := json.Unmarshal(lines[0], &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &second); err != nil {
		t.Fatal(err)
	}
	if first["prev"] != GenesisPrev {
		t.Errorf("first prev = %v, want 64 zeros", first["prev"])
	}
	sum := sha256.Sum256(bytes.TrimSuffix(lines[0], []byte("\n")))
	if second["prev"] != hex.EncodeToString(sum[:]) {
		t.Errorf("second prev = %v, want the SHA-256 of the first line", second["prev"])
	}
	// What the agent observes depends on how the test runs (sudo, ssh);
	// TestAppend_recordsObserved checks it.
	delete(first, "observed")
	want := map[string]any{
		"time":     "2025-03-01T12:00:00Z",
		"operator": map[string]any{"local_user": "ann", "ssh_user": "deploy", "key_fingerprint": "SHA256:abc"},
		"object":   "steward_backup_schedule/b1",
		"action":   "create",
		"after":    "sha256:" + strings.Repeat("ab", 32),
		"result":   "ok",
		"prev":     GenesisPrev,
	}
	if fmt.Sprint(first) != fmt.Sprint(want) {
		t.Errorf("first line\n got %v\nwant %v", first, want)
	}
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{path, 0o600}, {filepath.Dir(path), 0o700}} {
		fi, err := os.Stat(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != p.mode {
			t.Errorf("%s mode = %v, want %v", p.path, fi.Mode().Perm(), p.mode)
		}
	}
}

func TestAppend_defaultsTimeAndTightensMode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	if err := Append(path, Entry{Object: "x", Action: "create", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	var rec record
	if err := json.Unmarshal(readLines(t, path)[0], &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Time.Before(before) || rec.Time.Location() != time.UTC {
		t.Errorf("time = %v, want now in UTC", rec.Time)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestAppend_longLines(t *testing.T) {
	t.Parallel()
	// Lines longer than the backwards-read chunk must still chain correctly.
	path := filepath.Join(t.TempDir(), "audit.log")
	for i := range 5 {
		e := Entry{Object: strings.Repeat(fmt.Sprint(i), 5000+i*3000), Action: "update", Result: "ok"}
		if err := Append(path, e); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := Verify(path); n != 5 || err != nil {
		t.Fatalf("Verify = %d, %v; want 5, nil", n, err)
	}
}

func TestAppend_afterTruncatedLine(t *testing.T) {
	t.Parallel()
	path, lines := writeLog(t, 2)
	// A crash cut the second line short.
	cut := append(append([]byte{}, lines[0]...), lines[1][:20]...)
	if err := os.WriteFile(path, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Append(path, Entry{Object: "x", Action: "create", Result: "ok"}); err != nil {
		t.Fatalf("Append after a cut line: %v", err)
	}
	got := readLines(t, path)
	if len(got) != 4 || len(got[3]) != 0 { // Three lines and the empty rest after the last newline.
		t.Fatalf("log has %d parts, want the cut line ended and one new line: %q", len(got), got)
	}
	_, err := Verify(path)
	var broken *BrokenError
	if !errors.As(err, &broken) || broken.Line != 2 {
		t.Fatalf("Verify = %v, want the cut line 2 reported", err)
	}
	// The new line chains to the cut line's bytes, so only line 2 is in doubt.
	var rec record
	if err := json.Unmarshal(got[2], &rec); err != nil {
		t.Fatal(err)
	}
	if want := lineHash(bytes.TrimSuffix(got[1], []byte("\n"))); rec.Prev != want {
		t.Errorf("new line prev = %s, want hash of the cut line %s", rec.Prev, want)
	}
}

func TestAppend_concurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := Append(path, Entry{Object: fmt.Sprintf("w%d/%d", w, i), Action: "update", Result: "ok"}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := Verify(path); n != writers*each || err != nil {
		t.Fatalf("Verify = %d, %v; want %d, nil", n, err, writers*each)
	}
}
