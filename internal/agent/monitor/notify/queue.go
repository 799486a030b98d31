package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// entry is one queued notification. Each is its own file, <seq>.json, so
// an enqueue writes one small file, an acknowledgement removes one, and a
// damaged file costs only its own notification.
type entry struct {
	Seq          uint64           `json:"seq"`
	ID           string           `json:"id"`    // api.DeliveryIDHeader: the same on every attempt.
	Event        string           `json:"event"` // api.DeliveryNotification or api.DeliveryRepeat.
	QueuedAt     time.Time        `json:"queued_at"`
	Notification api.Notification `json:"notification"`

	attempts int // failed attempts since the notifier started; not persisted
}

// queue is one channel's persisted FIFO. It is not safe for concurrent
// use: its channel's mutex guards it.
type queue struct {
	dir     string
	entries []*entry // oldest first
	nextSeq uint64
}

// entryFileName is the file of seq: zero-padded, so names sort as numbers.
func entryFileName(seq uint64) string { return fmt.Sprintf("%020d.json", seq) }

// damagedFile is a queue file that could not be read, and where it went.
type damagedFile struct {
	file, movedTo string
	err           error
}

// loadQueue reads the queue in dir, creating dir if needed. Files that do
// not parse as an entry are moved to damagedDir and returned; temporary
// files a crash left behind are removed (their write never completed, so
// Enqueue never returned for them).
func loadQueue(dir, damagedDir, label string, now time.Time) (*queue, []damagedFile, error) {
	if err := core.EnsurePrivateDir(dir); err != nil {
		return nil, nil, err
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list queue %s: %w", dir, err)
	}
	q := &queue{dir: dir, nextSeq: 1}
	var damaged []damagedFile
	for _, de := range names {
		name := de.Name()
		file := filepath.Join(dir, name)
		if strings.HasPrefix(name, atomicfile.TempPrefix) {
			_ = os.Remove(file) // an interrupted write: never acknowledged to the caller
			continue
		}
		e, err := readEntry(file, name)
		if err != nil {
			moved, merr := moveAside(damagedDir, label+"-"+name, file, now)
			if merr != nil {
				return nil, nil, merr
			}
			damaged = append(damaged, damagedFile{file: file, movedTo: moved, err: err})
			continue
		}
		q.entries = append(q.entries, e)
		q.nextSeq = max(q.nextSeq, e.Seq+1)
	}
	slices.SortFunc(q.entries, func(a, b *entry) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return q, damaged, nil
}

// readEntry reads and checks one queue file.
func readEntry(file, name string) (*entry, error) {
	seqText, ok := strings.CutSuffix(name, ".json")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || entryFileName(seq) != name {
		return nil, errors.New("not a queue entry's name")
	}
	b, err := readBounded(file, maxEntryBytes)
	if err != nil {
		return nil, err
	}
	e := new(entry)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(e); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	switch {
	case e.Seq != seq:
		return nil, fmt.Errorf("holds sequence number %d, not %d", e.Seq, seq)
	case e.ID == "" || e.QueuedAt.IsZero() || len(e.Notification.Alerts) == 0:
		return nil, errors.New("lacks its id, queue time or alerts")
	case e.Event != api.DeliveryNotification && e.Event != api.DeliveryRepeat:
		return nil, fmt.Errorf("unknown event %q", e.Event)
	}
	return e, nil
}

// maxEntryBytes bounds one queue file: a notification of some thousand
// alerts; anything larger is not ours.
const maxEntryBytes = 4 << 20

// push appends a notification and returns its entry once its file is
// durable.
func (q *queue) push(event string, n api.Notification, now time.Time) (*entry, error) {
	e := &entry{Seq: q.nextSeq, ID: newDeliveryID(), Event: event, QueuedAt: now, Notification: n}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode queued notification: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(q.dir, entryFileName(e.Seq)), b, 0o600); err != nil {
		return nil, fmt.Errorf("queue notification: %w", err)
	}
	q.nextSeq++
	q.entries = append(q.entries, e)
	return e, nil
}

// head is the oldest entry, nil when the queue is empty.
func (q *queue) head() *entry {
	if len(q.entries) == 0 {
		return nil
	}
	return q.entries[0]
}

// remove deletes an entry (delivered, rejected or dropped). It leaves the
// queue in memory even when the file cannot be removed, so that this run
// never sends it twice; the error says the file may return after a restart.
func (q *queue) remove(e *entry) error {
	q.entries = slices.DeleteFunc(q.entries, func(x *entry) bool { return x == e })
	file := filepath.Join(q.dir, entryFileName(e.Seq))
	if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove delivered notification %s: %w", file, err)
	}
	return atomicfile.SyncDir(q.dir)
}

func newDeliveryID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// moveAside moves a damaged state file into damagedDir, named after what
// it was and when it was found, so an operator can inspect it and the
// notifier goes on without it.
func moveAside(damagedDir, label, file string, now time.Time) (string, error) {
	if err := core.EnsurePrivateDir(damagedDir); err != nil {
		return "", err
	}
	to := filepath.Join(damagedDir, fmt.Sprintf("%s.%d", label, now.UnixNano()))
	if err := os.Rename(file, to); err != nil {
		return "", fmt.Errorf("move damaged %s aside: %w", file, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(file)); err != nil {
		return "", err
	}
	return to, atomicfile.SyncDir(damagedDir)
}

// readBounded reads a regular file of at most limit bytes.
func readBounded(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	defer func() { _ = f.Close() }() // read-only
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: not a regular file", file)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("read %s: more than the %d bytes accepted", file, limit)
	}
	return b, nil
}
