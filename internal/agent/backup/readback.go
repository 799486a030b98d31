package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// readBack reads an upload back from its destination while it is being
// written and compares every byte with what was written. A backup
// publishes a snapshot only when archive and manifest read back exactly,
// so what the destination holds has the digests the index records.
// Reading in step with the writer puts that second pass on a core the
// compressor leaves idle, and comparing bytes instead of hashing them a
// second time costs a tenth of the CPU.
//
// The writer keeps a copy of what it wrote until the reader has compared
// it, at most readBackQueue chunks: a reader that falls behind (a slow
// SFTP link) holds the writer back instead of growing memory.
type readBack struct {
	src     io.ReaderAt
	pending []byte      // written, not yet queued
	queue   chan []byte // written chunks, in order, for the reader
	free    chan []byte // compared chunks, for reuse
	bufs    int         // chunk buffers made so far
	closed  bool
	stopped sync.Once
	stop    chan struct{}
	done    chan struct{}

	n   int64 // bytes compared; the reader's only
	err error // set by the reader before done is closed
}

const (
	readBackChunk = 1 << 20
	readBackQueue = 8
)

func startReadBack(src io.ReaderAt) *readBack {
	rb := &readBack{
		src: src, queue: make(chan []byte, readBackQueue), free: make(chan []byte, readBackQueue+1),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go rb.run()
	return rb
}

// wrote records p as accepted by the destination; p may be reused by the
// caller afterwards.
func (rb *readBack) wrote(p []byte) {
	for len(p) > 0 {
		if rb.pending == nil {
			rb.pending = rb.buffer()
		}
		k := copy(rb.pending[len(rb.pending):cap(rb.pending)], p)
		rb.pending = rb.pending[:len(rb.pending)+k]
		p = p[k:]
		if len(rb.pending) == cap(rb.pending) {
			rb.send()
		}
	}
}

func (rb *readBack) buffer() []byte {
	select {
	case b := <-rb.free:
		return b[:0]
	default:
	}
	if rb.bufs <= readBackQueue {
		rb.bufs++
		return make([]byte, 0, readBackChunk)
	}
	return (<-rb.free)[:0] // every queued buffer comes back, compared or dropped
}

func (rb *readBack) send() {
	if len(rb.pending) > 0 && !rb.closed {
		rb.queue <- rb.pending
	}
	rb.pending = nil
}

func (rb *readBack) run() {
	defer close(rb.done)
	buf := make([]byte, readBackChunk)
	for chunk := range rb.queue {
		if rb.err == nil {
			rb.err = rb.compare(chunk, buf[:len(chunk)])
		}
		rb.free <- chunk
	}
}

func (rb *readBack) compare(want, got []byte) error {
	select {
	case <-rb.stop:
		return errors.New("read back stopped")
	default:
	}
	k, err := rb.src.ReadAt(got, rb.n)
	if k < len(got) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("at byte %d: %w", rb.n+int64(k), err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for got[i] == want[i] {
			i++
		}
		return fmt.Errorf("%w: reads back from the destination with other bytes than were written, from byte %d on", ErrCorrupt, rb.n+int64(i))
	}
	rb.n += int64(len(got))
	return nil
}

// check waits until everything written is read back and compared, and
// checks that the destination holds nothing more than that.
func (rb *readBack) check(name string, size int64) error {
	rb.send()
	rb.closed = true
	close(rb.queue)
	<-rb.done
	if rb.err == nil && rb.n != size {
		rb.err = fmt.Errorf("%w: %d bytes read back, %d written", ErrCorrupt, rb.n, size)
	}
	if rb.err == nil {
		var extra [1]byte
		if k, _ := rb.src.ReadAt(extra[:], size); k > 0 {
			rb.err = fmt.Errorf("%w: reads back longer than the %d bytes written", ErrCorrupt, size)
		}
	}
	if rb.err != nil {
		return fmt.Errorf("read back %s: %w", name, rb.err)
	}
	return nil
}

// cancel makes the reader drop what is queued, ends it and waits; it may
// be called more than once, and after check.
func (rb *readBack) cancel() {
	rb.stopped.Do(func() {
		close(rb.stop)
		if !rb.closed {
			rb.closed = true
			close(rb.queue)
		}
	})
	<-rb.done
}
