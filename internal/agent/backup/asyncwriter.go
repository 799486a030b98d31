package backup

import (
	"errors"
	"io"
	"sync/atomic"
)

// asyncWriter hands what is written to it to w on another goroutine, in
// chunks, so the walk (system calls, hashing) and the compressor keep both
// cores busy instead of waiting on each other at every block.
//
// A write error of w is returned by a later Write or by Close. Close waits
// for the goroutine; abort makes it drop what is still queued. Buffers are
// made as the queue first fills, so a short stream costs one chunk.
type asyncWriter struct {
	w      io.Writer
	buf    []byte
	chunk  int
	spare  int // buffers that may still be made
	full   chan []byte
	free   chan []byte
	failed chan struct{} // closed after err is set
	done   chan struct{}
	err    error
	stop   atomic.Bool
	closed bool
}

func newAsyncWriter(w io.Writer, chunk, queue int) *asyncWriter {
	a := &asyncWriter{
		w: w, chunk: chunk, spare: queue, full: make(chan []byte, queue), free: make(chan []byte, queue+1),
		failed: make(chan struct{}), done: make(chan struct{}),
	}
	a.buf = make([]byte, 0, chunk)
	go a.run()
	return a
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for b := range a.full {
		if a.err == nil && !a.stop.Load() {
			if _, err := a.w.Write(b); err != nil {
				a.err = err
				close(a.failed)
			}
		}
		a.free <- b[:0] // every buffer comes back, so flush never blocks for good
	}
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	if a.closed {
		return 0, errors.New("write after close")
	}
	n := 0
	for len(p) > 0 {
		if len(a.buf) == cap(a.buf) {
			if err := a.flush(); err != nil {
				return n, err
			}
		}
		k := copy(a.buf[len(a.buf):cap(a.buf)], p)
		a.buf = a.buf[:len(a.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

func (a *asyncWriter) flush() error {
	select {
	case <-a.failed:
		return a.err
	default:
	}
	a.full <- a.buf
	select {
	case a.buf = <-a.free:
	default:
		if a.spare == 0 {
			a.buf = <-a.free
			break
		}
		a.spare--
		a.buf = make([]byte, 0, a.chunk)
	}
	return nil
}

// Close writes what is buffered, waits until w has it all and returns the
// first error. It may be called more than once.
func (a *asyncWriter) Close() error {
	if !a.closed {
		a.closed = true
		if len(a.buf) > 0 {
			a.full <- a.buf
		}
		a.buf = nil
		close(a.full)
		<-a.done
	}
	select {
	case <-a.failed:
		return a.err
	default:
		return nil
	}
}

// abort stops the goroutine without writing what is queued.
func (a *asyncWriter) abort() {
	a.stop.Store(true)
	_ = a.Close() // the run failed already; its error is the one reported
}
