package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const (
	writeChunk        = 1 << 20 // files up to this size are created by a writer
	fileWriterCount   = 4
	fileWriterBuffers = 8 // so at most 8 MiB of content is held
)

// fileJob is a small file to create, write and finish, or a chunk of a
// larger file opened already.
type fileJob struct {
	file *sharedFile // nil: create base in dir
	dir  *dirRef
	base string
	name string
	data []byte
	off  int64
	meta fileMeta
}

// sharedFile is a file being written by several chunk jobs; the last one
// to release it sets its metadata (after the last write, so the mtime
// stays) and closes it.
type sharedFile struct {
	fd   int
	name string
	meta fileMeta
	refs atomic.Int32
}

func (s *sharedFile) hold() *sharedFile {
	s.refs.Add(1)
	return s
}

func (s *sharedFile) release(w *fileWriters) {
	if s.refs.Add(-1) != 0 {
		return
	}
	var err error
	if w.failed() == nil {
		err = s.meta.apply(s.fd, s.name)
	}
	if cerr := unix.Close(s.fd); cerr != nil && err == nil {
		err = &fs.PathError{Op: "close", Path: s.name, Err: cerr}
	}
	if err != nil {
		w.fail(fmt.Errorf("restore: %w", err))
	}
	w.done(s.name)
}

// fileWriters create, write, finish and close files on a few goroutines.
// The names of files not yet written and closed are remembered, so that
// an entry that needs one of them (a hard link to it, or the same name
// again) can wait for it.
type fileWriters struct {
	jobs  chan fileJob
	free  chan []byte
	wg    sync.WaitGroup // queued jobs
	procs sync.WaitGroup // goroutines

	mu        sync.Mutex
	names     map[string]struct{} // queued, not yet written
	conflicts []fileJob           // small files whose name a directory takes

	firstError
}

func newFileWriters() *fileWriters {
	w := &fileWriters{
		jobs: make(chan fileJob, fileWriterBuffers),
		free: make(chan []byte, fileWriterBuffers), names: map[string]struct{}{},
	}
	for range fileWriterBuffers {
		w.free <- make([]byte, writeChunk)
	}
	for range fileWriterCount {
		w.procs.Go(w.run)
	}
	return w
}

func (w *fileWriters) run() {
	for j := range w.jobs {
		buf := j.data[:cap(j.data)]
		conflict := false
		if w.failed() == nil {
			var err error
			if conflict, err = w.write(&j); err != nil {
				w.fail(err)
			}
		}
		switch {
		case j.file != nil:
			j.file.release(w)
		case conflict:
			// Still pending and holding its directory, until drain.
			j.data = bytes.Clone(j.data) // buf goes back to the pool
			w.mu.Lock()
			w.conflicts = append(w.conflicts, j)
			w.mu.Unlock()
		default:
			j.dir.release()
			w.done(j.name)
		}
		w.free <- buf
		w.wg.Done()
	}
}

// write does one job. A small file whose name is taken replaces a file or
// symlink there: nothing else queued can need that (a hard link to this
// name, or the name again, waits while it is pending). A directory there
// is a conflict for the extractor, which removes it once the writers are
// idle, since queued files may be below it.
func (w *fileWriters) write(j *fileJob) (conflict bool, err error) {
	if j.file != nil {
		if err := writeFull(j.file.fd, j.data, j.off); err != nil {
			return false, fmt.Errorf("restore: %w", &fs.PathError{Op: "write", Path: j.name, Err: err})
		}
		return false, nil
	}
	err = writeNewFile(j.dir.fd, j.base, j.name, j.data, &j.meta)
	if errors.Is(err, unix.EEXIST) {
		switch uerr := unlinkAt(j.dir.fd, j.base, 0); {
		case errors.Is(uerr, unix.EISDIR):
			return true, nil
		case uerr != nil && !errors.Is(uerr, unix.ENOENT):
			err = &fs.PathError{Op: "replace", Path: j.name, Err: uerr}
		default:
			err = writeNewFile(j.dir.fd, j.base, j.name, j.data, &j.meta)
		}
	}
	if err != nil {
		return false, fmt.Errorf("restore: %w", err)
	}
	return false, nil
}

// open registers a file that chunk jobs will write; the caller holds one
// reference.
func (w *fileWriters) open(fd int, name string, meta fileMeta) *sharedFile {
	w.mu.Lock()
	w.names[name] = struct{}{}
	w.mu.Unlock()
	s := &sharedFile{fd: fd, name: name, meta: meta}
	s.refs.Store(1)
	return s
}

func (w *fileWriters) queue(j fileJob) {
	if j.file == nil {
		w.mu.Lock()
		w.names[j.name] = struct{}{}
		w.mu.Unlock()
	}
	w.wg.Add(1)
	w.jobs <- j
}

// done forgets a file that is written and closed.
func (w *fileWriters) done(name string) {
	w.mu.Lock()
	delete(w.names, name)
	w.mu.Unlock()
}

// pending reports whether name is queued and not yet written.
func (w *fileWriters) pending(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.names[name]
	return ok
}

// drain waits until every queued job is done and returns the first error.
func (w *fileWriters) drain() error {
	w.wg.Wait()
	return w.failed()
}

// takeConflicts returns the jobs left for the extractor; call it with the
// writers idle.
func (w *fileWriters) takeConflicts() []fileJob {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.conflicts
	w.conflicts = nil
	return c
}

// stop waits for the queued jobs and ends the goroutines.
func (w *fileWriters) stop() {
	close(w.jobs)
	w.procs.Wait()
}

// firstError keeps the first error that one of several goroutines meets;
// embedded, it gives their owner fail and failed.
type firstError struct{ first atomic.Pointer[error] }

// fail records err unless an error is recorded already.
func (f *firstError) fail(err error) { f.first.CompareAndSwap(nil, &err) }

// failed returns the first error recorded, if any.
func (f *firstError) failed() error {
	if p := f.first.Load(); p != nil {
		return *p
	}
	return nil
}
