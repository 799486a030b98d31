package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// readBack reads an upload back from its destination while it is being
// written, and hashes what it reads. A backup publishes a snapshot only
// when archive and manifest read back with the digests they were written
// with; reading in step with the writer puts that second pass on a core the
// compressor leaves idle instead of after the backup.
type readBack struct {
	src     io.ReaderAt
	written atomic.Int64 // bytes the destination has accepted
	final   atomic.Bool  // written will not grow any more
	wake    chan struct{}
	stop    chan struct{}
	stopped sync.Once
	done    chan struct{}

	h   hash.Hash
	n   int64
	err error
}

// readBackChunk is how much the reader waits for before it reads.
const readBackChunk = 1 << 20

func startReadBack(src io.ReaderAt) *readBack {
	rb := &readBack{src: src, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), h: sha256.New()}
	go rb.run()
	return rb
}

// advance records n more bytes accepted by the destination.
func (rb *readBack) advance(n int) {
	if n <= 0 {
		return
	}
	after := rb.written.Add(int64(n))
	if (after-int64(n))/readBackChunk != after/readBackChunk {
		rb.signal()
	}
}

func (rb *readBack) signal() {
	select {
	case rb.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

func (rb *readBack) run() {
	defer close(rb.done)
	buf := make([]byte, readBackChunk)
	for {
		final := rb.final.Load() // before written: once final, written is complete
		avail := rb.written.Load() - rb.n
		if avail == 0 && final {
			return
		}
		if avail < readBackChunk && !final {
			select {
			case <-rb.wake:
			case <-rb.stop:
				rb.err = errors.New("read back stopped")
				return
			}
			continue
		}
		k := min(avail, readBackChunk)
		m, err := rb.src.ReadAt(buf[:k], rb.n)
		rb.h.Write(buf[:m])
		rb.n += int64(m)
		if int64(m) < k {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			rb.err = err
			return
		}
	}
}

// check waits until everything written is read back and compares it with
// the digest and size it was written with.
func (rb *readBack) check(name, wantSum string, wantSize int64) error {
	rb.final.Store(true)
	rb.signal()
	<-rb.done
	if rb.err != nil {
		return fmt.Errorf("read back %s: %w", name, rb.err)
	}
	if got := hex.EncodeToString(rb.h.Sum(nil)); got != wantSum || rb.n != wantSize {
		return fmt.Errorf("%w: %s reads back from the destination with sha256 %s (%d bytes), was written with %s (%d bytes)",
			ErrCorrupt, name, got, rb.n, wantSum, wantSize)
	}
	return nil
}

// cancel stops the reader and waits for it; it may be called more than
// once, and after check.
func (rb *readBack) cancel() {
	rb.stopped.Do(func() { close(rb.stop) })
	<-rb.done
}
