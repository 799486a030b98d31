package logs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tailFile runs a fileSource on path from pos until want messages came,
// and returns their texts and the last position. It runs it twice, on
// copies of the file: polling every 10 ms, and woken by inotify alone (a
// missed event shows as a timeout: the safety poll is 10 s).
func tailFile(t *testing.T, path string, pos position, want int, during func(path string)) ([]string, position) {
	t.Helper()
	watched := filepath.Join(t.TempDir(), filepath.Base(path))
	if b, err := os.ReadFile(path); err == nil {
		writeFile(t, watched, string(b))
	}
	wpos := pos
	if pos.Inode != 0 {
		wpos = position{known: true} // The copy is another file: read it all.
	}
	wgot, _ := tailFileMode(t, watched, wpos, want, during, true)
	got, gotPos := tailFileMode(t, path, pos, want, during, false)
	if pos.Inode == 0 {
		if diff := cmp.Diff(got, wgot); diff != "" {
			t.Errorf("woken by inotify, other lines than polling (-poll +inotify):\n%s", diff)
		}
	}
	return got, gotPos
}

func tailFileMode(t *testing.T, path string, pos position, want int, during func(path string), watched bool) ([]string, position) {
	t.Helper()
	env := testSourceEnv()
	env.enc.maxLen = 100
	if watched {
		w, err := newWatcher()
		if err != nil {
			t.Fatal(err)
		}
		defer w.close()
		env.f.watch = w
		env.poll = time.Hour // Only inotify wakes it (and the 10 s safety poll).
	}
	s := &fileSource{env: env, path: path, tmpl: message{facility: 16, severity: 5}, grace: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var c collector
	done := make(chan struct{})
	go func() { s.run(ctx, pos, c.emit); close(done) }()
	if during != nil {
		during(path)
	}
	waitFor(t, 5*time.Second, "the lines", func() bool { got, _ := c.texts(); return len(got) >= want })
	time.Sleep(50 * time.Millisecond) // Nothing more may come.
	cancel()
	<-done
	return c.texts()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func TestFileSource_lines(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	long := strings.Repeat("é", 100) // 200 octets, more than the 100-octet bound.
	huge := strings.Repeat("z", 200<<10)
	writeFile(t, path, "one\r\ntwo\n\n"+long+"\n"+huge+"\nafter huge\npartial")
	got, pos := tailFile(t, path, position{known: true}, 6, nil)
	room := 100 - len("<133>1 2006-01-02T15:04:05.000000Z - - - - - ")
	want := []string{
		"one", // CRLF line endings lose the CR.
		"two",
		"",                          // An empty line is a message with no text.
		strings.Repeat("é", room/2), // Cut to the bound, not inside a character.
		strings.Repeat("z", room),   // A line far longer than the read buffer: cut, the rest skipped.
		"after huge",
		// "partial" has no newline yet: not sent, not counted.
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	size := int64(len("one\r\ntwo\n\n" + long + "\n" + huge + "\nafter huge\n"))
	if pos.Offset != size {
		t.Errorf("position %d, want %d: the end of the last whole line", pos.Offset, size)
	}

	// Resuming there sends the partial line once it is whole.
	appendFile(t, path, " line\n")
	got, _ = tailFile(t, path, pos, 1, nil)
	if diff := cmp.Diff([]string{"partial line"}, got); diff != "" {
		t.Errorf("after resume (-want +got):\n%s", diff)
	}
}

// A deleted file's inode can come back as another file's: the first bytes
// tell them apart, and the new file is read from its start.
func TestFileSource_inodeReused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "old line 1\nold line 2\n")
	_, pos := tailFile(t, path, position{known: true}, 2, nil)
	// Same inode, other content, longer than the saved offset: as an
	// inode reused by a new file would be.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("NEW line 1\nnew line 2\nnew line 3\n"); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	got, _ := tailFile(t, path, pos, 3, nil)
	if diff := cmp.Diff([]string{"NEW line 1", "new line 2", "new line 3"}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// A file that does not exist yet is waited for and read from its start.
func TestFileSource_appears(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "later.log")
	got, _ := tailFile(t, path, position{known: true}, 2, func(path string) {
		time.Sleep(50 * time.Millisecond)
		writeFile(t, path, "first\nsecond\n")
	})
	if diff := cmp.Diff([]string{"first", "second"}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// A renamed-away file whose successor never appears (deleted, or the
// program logs elsewhere now) is still read to its end.
func TestFileSource_renamedNoSuccessor(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "a\n")
	got, _ := tailFile(t, path, position{known: true}, 2, func(path string) {
		time.Sleep(50 * time.Millisecond)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
			return
		}
		if err := os.Rename(path, path+".1"); err != nil {
			t.Error(err)
		}
		_, _ = f.WriteString("b\n")
		_ = f.Close()
	})
	if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// The forwarder reads as root: a log's directory is often writable by
// the program that logs there, which could put a link to a secret in the
// log's place, or a FIFO to hang the reader. Neither is read; the source
// reports why.
func TestFileSource_refusesLinksAndSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	writeFile(t, secret, "root:$y$j9T$secret:19000:0:99999:7:::\n")
	link := filepath.Join(dir, "app.log")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	linkedDir := filepath.Join(dir, "logs")
	if err := os.Symlink(dir, linkedDir); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{link, "a symbolic link"},
		{filepath.Join(linkedDir, "secret"), "a symbolic link"},
		{fifo, "not a regular file"},
	} {
		env := testSourceEnv()
		s := &fileSource{env: env, path: c.path}
		ctx, cancel := context.WithCancel(context.Background())
		var col collector
		done := make(chan struct{})
		go func() { s.run(ctx, position{known: true}, col.emit); close(done) }()
		waitFor(t, 5*time.Second, "the refusal in status", func() bool {
			env.f.mu.Lock()
			defer env.f.mu.Unlock()
			return strings.Contains(env.f.src[0].err, c.want)
		})
		cancel()
		<-done
		if got, _ := col.texts(); len(got) != 0 {
			t.Errorf("%s: read %q", c.path, got)
		}
	}
}
