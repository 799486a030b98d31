package logs

import (
	"context"
	"sync"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// position is where a source stands: the journald cursor of the last entry
// handled, or the file (device and inode) and the offset after the last
// line handled. Head fingerprints the file's first bytes, because a deleted
// file's inode can come back as a new file's.
type position struct {
	Cursor string `json:"cursor,omitempty"`
	Dev    uint64 `json:"dev,omitempty"`
	Inode  uint64 `json:"inode,omitempty"`
	Offset int64  `json:"offset,omitempty"`
	Head   string `json:"head,omitempty"`
	// known is false for a source that has no saved position yet, where
	// start_at decides; a saved position (even an empty one: "the journal
	// from its beginning", "the file once it appears") is known.
	known bool
}

// batch is what a source hands the sender: messages already encoded (and
// framed) for the sink, and the source's position after the last of them.
// A batch without lines only moves the position (a start point, a switch
// to a rotated file's successor).
type batch struct {
	src  int
	data []byte
	ends []int // Where each message ends in data; UDP sends one datagram each.
	// lines counts the messages; oldest is when the first of them was
	// logged (journal) or read (files), for the lag.
	lines  int
	oldest time.Time
	pos    position
}

// Batches are handed over when they reach these sizes, or sooner when the
// source has nothing more to read right now.
const (
	batchBytes = 32 << 10
	batchLines = 512
)

var batchPool = sync.Pool{New: func() any {
	return &batch{data: make([]byte, 0, batchBytes+defaultStreamMessageBytes), ends: make([]int, 0, batchLines)}
}}

// maxFrame bounds one encoded message with its framing.
const maxFrame = api.LogMaxMessageBytes + 8

func newBatch(src int) *batch {
	b, _ := batchPool.Get().(*batch)
	if b == nil {
		b = &batch{}
	}
	b.src, b.data, b.ends, b.lines, b.oldest, b.pos = src, b.data[:0], b.ends[:0], 0, time.Time{}, position{}
	return b
}

func releaseBatch(b *batch) {
	if cap(b.data) <= 4*(batchBytes+maxFrame) {
		batchPool.Put(b)
	}
}

func (b *batch) full() bool { return len(b.data) >= batchBytes || b.lines >= batchLines }

// encoder turns a source's lines into the sink's bytes.
type encoder struct {
	maxLen        int
	octetCounting bool
}

func (e encoder) add(b *batch, m *message) {
	b.data = appendMessage(b.data, m, e.maxLen, e.octetCounting)
	b.ends = append(b.ends, len(b.data))
	if b.lines == 0 {
		b.oldest = m.time
	}
	b.lines++
}

// emitFunc hands a batch to the sender; it returns false once the source
// must stop (its context is done), and then the batch was not taken.
type emitFunc func(*batch) bool

func channelEmitter(ctx context.Context, out chan<- *batch) emitFunc {
	return func(b *batch) bool {
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			releaseBatch(b)
			return false
		}
	}
}

// source is one journal or file the forwarder reads.
type source interface {
	// key names the source in the state file and in status: "journal" or
	// "file:" and the path.
	key() string
	// run reads from pos on and emits batches in order until ctx is done.
	// It handles its own read errors (reporting them and retrying), so it
	// returns only when ctx is done. run is called again, from a possibly
	// earlier position, for every connection to the receiver.
	run(ctx context.Context, pos position, emit emitFunc)
	// start resolves start_at for a source without a saved position.
	start(ctx context.Context) (position, error)
}
