package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// readBack reads an upload back from its destination while it is being
// written and compares every byte with what was written. A backup
// publishes a snapshot only when archive and manifest read back exactly,
// so what the destination holds has the digests the index records.
// Reading in step with the writer puts that second pass on a core the
// compressor leaves idle, and comparing bytes instead of hashing them a
// second time costs a tenth of the CPU.
//
// What was written is handed to the comparing goroutine by an asyncWriter,
// which keeps at most a few chunks: a reader that falls behind (a slow SFTP
// link) holds the writer back instead of growing memory.
type readBack struct {
	aw  *asyncWriter
	cmp *backComparer
}

const (
	readBackChunk = 1 << 20
	readBackQueue = 8
)

func startReadBack(src io.ReaderAt) *readBack {
	cmp := &backComparer{src: src, buf: make([]byte, readBackChunk)}
	return &readBack{aw: newAsyncWriter(cmp, readBackChunk, readBackQueue), cmp: cmp}
}

// wrote records p as accepted by the destination; p may be reused by the
// caller afterwards.
func (rb *readBack) wrote(p []byte) {
	_, _ = rb.aw.Write(p) // the comparer never fails a write; check reports
}

// check waits until everything written is read back and compared, and
// checks that the destination holds nothing more than that.
func (rb *readBack) check(name string, size int64) error {
	_ = rb.aw.Close() // the comparer never fails a write
	c := rb.cmp
	if c.err == nil && c.n != size {
		c.err = fmt.Errorf("%w: %d bytes read back, %d written", ErrCorrupt, c.n, size)
	}
	if c.err == nil {
		var extra [1]byte
		if k, _ := c.src.ReadAt(extra[:], size); k > 0 {
			c.err = fmt.Errorf("%w: reads back longer than the %d bytes written", ErrCorrupt, size)
		}
	}
	if c.err != nil {
		return fmt.Errorf("read back %s: %w", name, c.err)
	}
	return nil
}

// cancel drops what is queued and waits for the comparing goroutine; it
// may be called more than once, and after check.
func (rb *readBack) cancel() { rb.aw.abort() }

// backComparer reads from src what is written to it, at the same offset,
// and keeps the first difference; Write always succeeds, so that a
// difference is reported once the upload is complete, by check.
type backComparer struct {
	src io.ReaderAt
	buf []byte
	n   int64 // bytes compared
	err error
}

func (c *backComparer) Write(want []byte) (int, error) {
	if c.err == nil {
		c.err = c.compare(want, c.buf[:len(want)])
	}
	return len(want), nil
}

func (c *backComparer) compare(want, got []byte) error {
	k, err := c.src.ReadAt(got, c.n)
	if k < len(got) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("at byte %d: %w", c.n+int64(k), err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for got[i] == want[i] {
			i++
		}
		return fmt.Errorf("%w: reads back from the destination with other bytes than were written, from byte %d on", ErrCorrupt, c.n+int64(i))
	}
	c.n += int64(len(got))
	return nil
}
