package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// fileSource follows one log file by inode and offset. A file renamed away
// and created anew (logrotate's create) is read to its end before its
// successor is read from the start; a file truncated in place (copytruncate)
// is read again from offset 0.
type fileSource struct {
	env  *sourceEnv
	path string
	tmpl message // PRI, HOSTNAME and APP-NAME of every line.
	// startAtEnd is start_at "end": a file without a saved position is
	// read from its current size on.
	startAtEnd bool
	// grace is how long a renamed-away file must stay quiet before its
	// successor is read: the writer goes on appending to the old file
	// until it is told to reopen.
	grace time.Duration
}

// headLen is how many of a file's first bytes fingerprint it.
const headLen = 256

func (s *fileSource) key() string { return "file:" + s.path }

func (s *fileSource) start(context.Context) (position, error) {
	pos := position{known: true}
	if !s.startAtEnd {
		return pos, nil // Inode 0: the file at path, from its first byte.
	}
	f, err := openLogFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return pos, nil
	}
	if err != nil {
		return pos, err
	}
	defer func() { _ = f.Close() }() // read-only
	fi, err := f.Stat()
	if err != nil {
		return pos, fmt.Errorf("stat %s: %w", s.path, err)
	}
	pos.Dev, pos.Inode, _ = fileID(fi)
	pos.Offset = fi.Size()
	head, err := readHead(f, pos.Offset)
	if err != nil {
		return pos, err
	}
	pos.Head = fingerprint(head)
	return pos, nil
}

func (s *fileSource) run(ctx context.Context, pos position, emit emitFunc) {
	wake := make(chan struct{}, 1)
	t := &tailer{s: s, emit: emit, pos: pos, buf: make([]byte, 64<<10), watch: s.env.f.watch, wake: wake,
		dirTarget:  &watchTarget{wake: wake, name: filepath.Base(s.path)},
		fileTarget: &watchTarget{wake: wake}}
	if t.watch != nil {
		if err := t.watch.watchDir(filepath.Dir(s.path), t.dirTarget); err != nil {
			s.env.log.Debug("no change notification for log file; polling it", "path", s.path, "error", err)
			t.watch = nil
		}
	}
	defer func() {
		if t.watch != nil {
			t.watch.drop(t.dirTarget)
			t.watch.drop(t.fileTarget)
		}
	}()
	defer t.close()
	retry := s.env.retry()
	for {
		err := t.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		s.env.report(err)
		t.close()
		if !sleep(ctx, retry.next()) {
			return
		}
	}
}

// tailer is one run of a fileSource: the open file and what is read of it.
type tailer struct {
	s    *fileSource
	emit emitFunc
	pos  position // The last position emitted, where a retry resumes.

	f        *os.File // nil while the file does not exist.
	dev, ino uint64
	off      int64  // File offset of buf[0].
	buf      []byte // buf[:n] is read and not consumed.
	n        int
	head     []byte // The file's first min(off, headLen) bytes.
	headSum  string // fingerprint(head) once head is complete.
	long     []byte // The start of an overlong line being skipped.
	skipping bool
	b        *batch
	// rotated is when path was seen to name another file than f; grew is
	// when f last had new data.
	rotated, grew time.Time
	// watch (nil without inotify) wakes the tailer when the open file
	// changes (fileTarget) or its name in the directory does (dirTarget).
	watch                 *watcher
	wake                  chan struct{}
	dirTarget, fileTarget *watchTarget
}

// safetyPoll is how often a file is looked at although inotify reported
// nothing: for changes inotify cannot see (a file written over NFS).
const safetyPoll = 10 * time.Second

var errStopped = errors.New("stopped")

func (t *tailer) follow(ctx context.Context) error {
	if !t.pos.known {
		p, err := t.s.start(ctx)
		if err != nil {
			return err
		}
		if err := t.moved(p); err != nil {
			return err
		}
	}
	if err := t.open(); err != nil {
		return err
	}
	for {
		got, err := t.read()
		if err != nil {
			return err
		}
		if got {
			t.s.env.report(nil)
			continue
		}
		armed := t.arm()
		if armed {
			// Lines written between the last read and arming the watch
			// raised no event: read once more.
			if got, err := t.read(); err != nil || got {
				if err != nil {
					return err
				}
				continue
			}
		}
		// Look for a rotation after the pause and before reading on, so a
		// file truncated and written again meanwhile is read from its start
		// and not from the old offset.
		if !t.wait(ctx, armed || t.f == nil) {
			return ctx.Err()
		}
		if err := t.checkRotation(); err != nil {
			return err
		}
	}
}

// arm asks for a wake-up at the open file's next change; it says whether
// one will come.
func (t *tailer) arm() bool {
	if t.watch == nil || t.f == nil {
		return false
	}
	if err := t.watch.armFile(t.f, t.fileTarget); err != nil {
		t.s.env.log.Debug("no change notification for log file; polling it", "path", t.s.path, "error", err)
		return false
	}
	return true
}

// wait pauses until the file may have changed: a wake-up from inotify
// when watched, else after PollInterval, which also paces finishing a
// renamed file.
func (t *tailer) wait(ctx context.Context, watched bool) bool {
	d := t.s.env.poll
	if t.watch != nil && watched && t.rotated.IsZero() {
		d = safetyPoll
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.wake:
	case <-timer.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// open resumes at t.pos: in the file at path when it is still the same
// file, else in the renamed-away file (found by inode beside path) to
// finish it first, else at the start of whatever path names now.
func (t *tailer) open() error {
	pos := t.pos
	if pos.Inode != 0 {
		f, size, err := openSame(t.s.path, pos)
		if err != nil {
			return err
		}
		if f == nil {
			if f, size, err = findRotated(t.s.path, pos); err != nil {
				return err
			}
			if f != nil {
				t.rotated, t.grew = time.Now(), time.Now()
			}
		}
		if f != nil {
			at := pos.Offset
			if size < at {
				at = 0 // Truncated while we were away: what is there now is new.
			}
			return t.setFile(f, pos.Dev, pos.Inode, at)
		}
		t.s.env.log.Warn("log file rotated and its old copy is gone; reading the new file from its start",
			"path", t.s.path, "inode", pos.Inode, "offset", pos.Offset)
	}
	return t.openPath()
}

// openPath opens the file path names now, from offset 0; a missing file
// is waited for.
func (t *tailer) openPath() error {
	f, err := openLogFile(t.s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return t.moved(position{known: true})
	}
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("stat %s: %w", t.s.path, err)
	}
	dev, ino, _ := fileID(fi)
	return t.setFile(f, dev, ino, 0)
}

func (t *tailer) setFile(f *os.File, dev, ino uint64, at int64) error {
	t.f, t.dev, t.ino, t.off, t.n, t.skipping, t.headSum = f, dev, ino, at, 0, false, ""
	head, err := readHead(f, at)
	if err != nil {
		return err
	}
	t.head = append(t.head[:0], head...)
	if _, err := f.Seek(at, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s to %d: %w", f.Name(), at, err)
	}
	return t.moved(t.position(at))
}

// moved emits a position that no line carries: a start point, a switch to
// another file, a truncation.
func (t *tailer) moved(p position) error {
	if p == t.pos {
		return nil
	}
	b := newBatch(t.s.env.idx)
	b.pos = p
	if !t.emit(b) {
		return errStopped
	}
	t.pos = p
	return nil
}

func (t *tailer) close() {
	if t.f != nil {
		_ = t.f.Close() // read-only
		t.f = nil
	}
	if t.b != nil {
		releaseBatch(t.b)
		t.b = nil
	}
}

// read reads what the file has now and emits its complete lines. It says
// whether there was anything to read.
func (t *tailer) read() (bool, error) {
	got := false
	for t.f != nil {
		m, err := t.f.Read(t.buf[t.n:])
		if m > 0 {
			got = true
			t.n += m
			if !t.lines(time.Now()) {
				return got, errStopped
			}
		}
		if m == 0 || errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return got, fmt.Errorf("read %s: %w", t.f.Name(), err)
		}
	}
	if got {
		t.grew = time.Now()
	}
	if !t.flush() {
		return got, errStopped
	}
	return got, nil
}

// lines turns the complete lines in buf into messages. A line longer than
// buf is cut to the message size and the rest of it skipped, so memory
// stays bounded whatever the file holds.
func (t *tailer) lines(now time.Time) bool {
	start := 0
	for {
		i := bytes.IndexByte(t.buf[start:t.n], '\n')
		if i < 0 {
			break
		}
		end := start + i + 1
		t.noteHead(start, end)
		line := t.buf[start : end-1]
		if t.skipping {
			line, t.skipping = t.long, false
		}
		t.add(line, t.off+int64(end), now)
		start = end
		if t.b.full() && !t.flush() {
			return false
		}
	}
	copy(t.buf, t.buf[start:t.n])
	t.n -= start
	t.off += int64(start)
	if t.n == len(t.buf) {
		if !t.skipping {
			t.long = append(t.long[:0], t.buf[:min(t.n, t.s.env.enc.maxLen)]...)
			t.skipping = true
		}
		t.noteHead(0, t.n)
		t.off += int64(t.n)
		t.n = 0
	}
	return true
}

func (t *tailer) add(line []byte, end int64, now time.Time) {
	if t.b == nil {
		t.b = newBatch(t.s.env.idx)
	}
	line = bytes.TrimSuffix(line, []byte{'\r'})
	m := t.s.tmpl
	m.time, m.text = now, line
	t.s.env.enc.add(t.b, &m)
	t.b.pos = t.position(end)
}

func (t *tailer) flush() bool {
	if t.b == nil {
		return true
	}
	b := t.b
	t.b = nil
	pos := b.pos // The sender owns b once emitted.
	if !t.emit(b) {
		return false
	}
	t.pos = pos
	return true
}

// noteHead keeps the file's first bytes as they go by in buf[start:end].
func (t *tailer) noteHead(start, end int) {
	at := t.off + int64(start)
	if at >= headLen || int64(len(t.head)) != at {
		return
	}
	t.head = append(t.head, t.buf[start:min(end, start+headLen-len(t.head))]...)
}

func (t *tailer) position(off int64) position {
	p := position{Dev: t.dev, Inode: t.ino, Offset: off, known: true}
	if off >= headLen && len(t.head) == headLen {
		if t.headSum == "" {
			t.headSum = fingerprint(t.head)
		}
		p.Head = t.headSum
	} else {
		p.Head = fingerprint(t.head[:min(int(off), len(t.head))])
	}
	return p
}

// checkRotation looks at what path names now, once the open file had no
// more to read.
func (t *tailer) checkRotation() error {
	if t.f == nil {
		return t.openPath()
	}
	if !t.rotated.IsZero() {
		if time.Since(t.grew) < t.s.grace {
			return nil
		}
		// The renamed-away file is finished: its last line is whole even
		// without its newline.
		if t.n > 0 || t.skipping {
			line := t.buf[:t.n]
			if t.skipping {
				line, t.skipping = t.long, false
			}
			t.noteHead(0, t.n)
			t.add(line, t.off+int64(t.n), time.Now())
			if !t.flush() {
				return errStopped
			}
		}
		t.close()
		t.rotated = time.Time{}
		return t.openPath()
	}
	fi, err := os.Lstat(t.s.path)
	if errors.Is(err, fs.ErrNotExist) {
		// Renamed away and not created again yet, or deleted: the writer
		// may still append to the open file.
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat %s: %w", t.s.path, err)
	}
	if dev, ino, ok := fileID(fi); ok && (dev != t.dev || ino != t.ino) {
		t.rotated, t.grew = time.Now(), time.Now()
		return nil
	}
	cur, err := t.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", t.f.Name(), err)
	}
	if cur.Size() < t.off+int64(t.n) || t.headChanged() {
		// Truncated in place (copytruncate): everything now in the file
		// is new. The partial line read before belonged to the old content.
		// A file written past the old offset before this look still has
		// other first bytes: it is read again from 0, so its new lines
		// arrive (those past the old offset twice) rather than not at all.
		return t.setFile(t.f, t.dev, t.ino, 0)
	}
	return nil
}

// headChanged says whether the file's first bytes are no longer those read
// from it: it was truncated and written again.
func (t *tailer) headChanged() bool {
	if len(t.head) == 0 {
		return false
	}
	buf := make([]byte, len(t.head))
	n, err := t.f.ReadAt(buf, 0)
	return (err == nil || errors.Is(err, io.EOF)) && !bytes.Equal(buf[:n], t.head)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
