package logs

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// watcher wakes file sources when the kernel reports a change (inotify),
// so an idle forwarder makes no wake-ups of its own. One inotify instance
// serves all the sources of a forwarder (instances are limited to 128 per
// user by default).
//
// A source watches two things: the file it has open, with a one-shot
// watch armed only when it has read everything (so a busy file costs no
// event per write), and the file's directory for entries created, renamed
// or removed under the file's name (a rotation).
type watcher struct {
	f       *os.File // The inotify descriptor, non-blocking, so reads park in the runtime's poller.
	mu      sync.Mutex
	targets map[int32][]*watchTarget
}

// watchTarget is one source's interest in a watch: it is woken for every
// event, or, with name set, only for events about that directory entry.
type watchTarget struct {
	wake chan struct{}
	name string
}

func (t *watchTarget) signal() {
	select {
	case t.wake <- struct{}{}:
	default: // A wake-up is pending already.
	}
}

const (
	dirMask  = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_ONLYDIR
	fileMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_MOVE_SELF | unix.IN_DELETE_SELF | unix.IN_ONESHOT
)

func newWatcher() (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	w := &watcher{f: os.NewFile(uintptr(fd), "inotify"), targets: map[int32][]*watchTarget{}}
	go w.loop()
	return w, nil
}

func (w *watcher) close() { _ = w.f.Close() } // Ends loop.

// watchDir wakes t when an entry named t.name in dir is created, renamed
// or removed.
func (w *watcher) watchDir(dir string, t *watchTarget) error {
	return w.add(dir, dirMask, t)
}

// armFile wakes t once, at the next change of the open file f.
func (w *watcher) armFile(f *os.File, t *watchTarget) error {
	// The descriptor's /proc link names the open file itself, even after
	// it was renamed or deleted.
	return w.add("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), fileMask, t)
}

func (w *watcher) add(path string, mask uint32, t *watchTarget) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, err := unix.InotifyAddWatch(int(w.f.Fd()), path, mask)
	if err != nil {
		return fmt.Errorf("inotify watch %s: %w", path, err)
	}
	for _, have := range w.targets[int32(wd)] {
		if have == t {
			return nil
		}
	}
	w.targets[int32(wd)] = append(w.targets[int32(wd)], t)
	return nil
}

// drop forgets t, removing the watches no other source uses.
func (w *watcher) drop(t *watchTarget) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for wd, ts := range w.targets {
		kept := ts[:0]
		for _, have := range ts {
			if have != t {
				kept = append(kept, have)
			}
		}
		if len(kept) == 0 {
			delete(w.targets, wd)
			_, _ = unix.InotifyRmWatch(int(w.f.Fd()), uint32(wd)) // Gone already if it was a one-shot that fired.
			continue
		}
		w.targets[wd] = kept
	}
}

func (w *watcher) loop() {
	buf := make([]byte, 16<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		w.dispatch(buf[:n])
	}
}

func (w *watcher) dispatch(events []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(events) >= unix.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(events[0:4]))
		mask := binary.NativeEndian.Uint32(events[4:8])
		nameLen := int(binary.NativeEndian.Uint32(events[12:16]))
		end := min(unix.SizeofInotifyEvent+nameLen, len(events))
		name := string(trimNUL(events[unix.SizeofInotifyEvent:end]))
		events = events[end:]
		if mask&unix.IN_Q_OVERFLOW != 0 {
			// Events were lost: everyone looks.
			for _, ts := range w.targets {
				for _, t := range ts {
					t.signal()
				}
			}
			continue
		}
		for _, t := range w.targets[wd] {
			if t.name == "" || t.name == name {
				t.signal()
			}
		}
		if mask&unix.IN_IGNORED != 0 {
			delete(w.targets, wd) // The watch is gone: a one-shot fired, or its file is.
		}
	}
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
