package notify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// DefaultHistoryMax is how many delivery records the history keeps (all
// channels together) unless Config.HistoryMax says otherwise.
const DefaultHistoryMax = 2000

// Bounds of what one record holds, so the history's size is bounded too.
const (
	maxRecordAlerts = 50
	maxErrorText    = 512
)

// history is the bounded, persisted delivery history: records are appended
// to a JSON-lines file, one write each and no fsync (losing the last lines
// in a power cut is acceptable for a history; a torn last line is skipped
// when read back), and the file is rewritten atomically with the newest
// max records whenever it holds twice that many.
type history struct {
	path       string
	damagedDir string
	max        int

	mu      sync.Mutex
	records []api.DeliveryRecord // oldest first, at most max
	lines   int                  // lines in the file
	file    *os.File             // opened for appending; nil until the first append
}

// loadHistory reads the history file. Lines that do not parse are reported
// in damaged: the file is then moved aside whole and rewritten with what
// did parse.
func loadHistory(path, damagedDir string, limit int, now time.Time) (*history, string, error) {
	h := &history{path: path, damagedDir: damagedDir, max: limit}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return h, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read delivery history %s: %w", path, err)
	}
	bad := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var r api.DeliveryRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Time.IsZero() || r.Channel == "" {
			bad++
			continue
		}
		h.records = append(h.records, r)
		h.lines++
	}
	if sc.Err() != nil {
		bad++ // a line longer than any record we write
	}
	h.trim()
	if bad == 0 {
		return h, "", nil
	}
	moved, err := moveAside(damagedDir, "history.jsonl", path, now)
	if err != nil {
		return nil, "", err
	}
	if err := h.rewrite(); err != nil {
		return nil, "", err
	}
	return h, fmt.Sprintf("delivery history %s: %d damaged lines; the file was moved to %s and its %d readable records kept", path, bad, moved, len(h.records)), nil
}

func (h *history) trim() {
	if over := len(h.records) - h.max; over > 0 {
		h.records = slices.Delete(h.records, 0, over)
	}
}

// add appends a record; the error says it is not persisted (it is kept in
// memory all the same).
func (h *history) add(r api.DeliveryRecord) error {
	if len(r.Error) > maxErrorText {
		r.Error = r.Error[:maxErrorText] + "…"
	}
	if len(r.Alerts) > maxRecordAlerts {
		r.Alerts = r.Alerts[:maxRecordAlerts]
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode delivery record: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	h.trim()
	if h.lines+1 >= 2*h.max {
		return h.rewrite()
	}
	if h.file == nil {
		f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("open delivery history %s: %w", h.path, err)
		}
		h.file = f
	}
	if _, err := h.file.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("append to delivery history %s: %w", h.path, err)
	}
	h.lines++
	return nil
}

// rewrite replaces the file with the records kept. h.mu is held (or h is
// not shared yet).
func (h *history) rewrite() error {
	var buf bytes.Buffer
	for _, r := range h.records {
		b, _ := json.Marshal(r) // records decoded or built by us always encode
		buf.Write(append(b, '\n'))
	}
	if h.file != nil {
		_ = h.file.Close() // the file is replaced below; nothing unwritten is buffered
		h.file = nil
	}
	if err := atomicfile.Write(h.path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("compact delivery history: %w", err)
	}
	h.lines = len(h.records)
	return nil
}

// query returns the records f selects, oldest first.
func (h *history) query(f api.DeliveryFilter) []api.DeliveryRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []api.DeliveryRecord
	for i := len(h.records) - 1; i >= 0 && (f.Limit <= 0 || len(out) < f.Limit); i-- {
		if f.Match(h.records[i]) {
			out = append(out, h.records[i])
		}
	}
	slices.Reverse(out)
	return out
}

func (h *history) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.file != nil {
		_ = h.file.Close() // appends are written through; nothing is lost
		h.file = nil
	}
}
