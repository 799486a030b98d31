package logs

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// logWriter is a program logging to a file through one open descriptor
// (O_APPEND), as daemons do: it writes to whatever file that descriptor is
// after a rename, until it is told to reopen.
type logWriter struct {
	t    *testing.T
	path string
	f    *os.File
	n    int
}

func newLogWriter(t *testing.T, path string) *logWriter {
	w := &logWriter{t: t, path: path}
	w.reopen()
	t.Cleanup(func() { _ = w.f.Close() })
	return w
}

func (w *logWriter) reopen() {
	w.t.Helper()
	if w.f != nil {
		_ = w.f.Close()
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	w.f = f
}

// write logs the next n lines, pacing them like a busy program when pace
// is set; a negative pace writes them all in one write.
func (w *logWriter) write(n int, pace time.Duration) {
	w.t.Helper()
	if pace < 0 {
		var b []byte
		for range n {
			w.n++
			b = append(b, seqLine("app", w.n)+"\n"...)
		}
		if _, err := w.f.Write(b); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	for range n {
		w.n++
		if _, err := w.f.WriteString(seqLine("app", w.n) + "\n"); err != nil {
			w.t.Fatal(err)
		}
		if pace > 0 && w.n%10 == 0 {
			time.Sleep(pace)
		}
	}
}

func fileOnlySpec(addr, file string) api.LogForward {
	return api.LogForward{
		Name:    "rotation",
		Files:   []api.LogFile{{Path: file, Tag: "app"}},
		Target:  api.LogTarget{Address: addr, Protocol: api.LogProtocolTCP},
		StartAt: api.LogStartBeginning,
	}
}

func delivered(r *rsyslog, src string) int {
	if d := deliveries(r.received())[src]; d != nil {
		return len(d.seqs)
	}
	return 0
}

func TestForwarder_fileRotation(t *testing.T) {
	r := startRsyslog(t, "tcp", nil)

	// logrotate's default: rename the file away, create a new one, and
	// signal the program, which writes a little more to the old file
	// before it reopens.
	t.Run("renamed and created", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "app.log")
		w := newLogWriter(t, file)
		w.write(1000, 0)
		startForwarder(t, testConfig(t, fileOnlySpec(r.addr(), file), filepath.Join(dir, "state")))
		waitFor(t, 10*time.Second, "the first lines", func() bool { return delivered(r, "app") > 0 })
		if err := os.Rename(file, file+".1"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // The forwarder sees the new file...
		w.write(500, time.Millisecond)    // ...while the program still writes to the old one.
		w.reopen()
		w.write(1500, time.Millisecond)
		if dups := waitDelivered(t, r, 20*time.Second, span{"app", 1, 3000}); dups["app"] != 0 {
			t.Errorf("%d duplicates", dups["app"])
		}
	})

	// logrotate's copytruncate: the file is copied and truncated in
	// place; the program goes on writing at the new end (O_APPEND). The
	// lines written after the truncation arrive, even when they are
	// written so fast that the file is back past the old offset before
	// the forwarder looks.
	t.Run("copied and truncated", func(t *testing.T) {
		for _, c := range []struct {
			name string
			pace time.Duration
		}{{"steady", time.Millisecond}, {"burst", -1}} {
			t.Run(c.name, func(t *testing.T) {
				r.freshOutput(t)
				dir := t.TempDir()
				file := filepath.Join(dir, "app.log")
				w := newLogWriter(t, file)
				w.write(1000, 0)
				fw := startForwarder(t, testConfig(t, fileOnlySpec(r.addr(), file), filepath.Join(dir, "state")))
				waitDelivered(t, r, 10*time.Second, span{"app", 1, 1000})
				waitFor(t, 5*time.Second, "the offset acknowledged", func() bool {
					return fw.f.Status().Sources[0].Offset == int64(1000*len(seqLine("app", 1)+"\n"))
				})
				copyFile(t, file, file+".1")
				if err := os.Truncate(file, 0); err != nil {
					t.Fatal(err)
				}
				w.write(1200, c.pace) // Past the old offset.
				dups := waitDelivered(t, r, 20*time.Second, span{"app", 1, 2200})
				t.Logf("%s: every line arrived in order; %d sent twice", c.name, dups["app"])
			})
		}
	})

	// The forwarder is stopped while the file is written and rotated: on
	// start it finds the renamed file by its inode and finishes it
	// before it reads the new one.
	t.Run("rotated while stopped", func(t *testing.T) {
		r.freshOutput(t)
		dir := t.TempDir()
		file := filepath.Join(dir, "app.log")
		w := newLogWriter(t, file)
		w.write(500, 0)
		cfg := testConfig(t, fileOnlySpec(r.addr(), file), filepath.Join(dir, "state"))
		fw := startForwarder(t, cfg)
		waitDelivered(t, r, 10*time.Second, span{"app", 1, 500})
		fw.stop()
		w.write(300, 0)
		if err := os.Rename(file, file+".1"); err != nil {
			t.Fatal(err)
		}
		w.reopen()
		w.write(200, 0)
		startForwarder(t, cfg)
		if dups := waitDelivered(t, r, 10*time.Second, span{"app", 1, 1000}); dups["app"] != 0 {
			t.Errorf("%d duplicates across a clean restart", dups["app"])
		}
	})
}

// freshOutput restarts the receiver writing to a new file, so that each
// subtest reads only its own lines.
func (r *rsyslog) freshOutput(t *testing.T) {
	t.Helper()
	r.stop()
	conf, err := os.ReadFile(r.conf)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "received.log")
	conf = bytes.Replace(conf, []byte(strconv.Quote(r.out)), []byte(strconv.Quote(out)), 1)
	if err := os.WriteFile(r.conf, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	r.out = out
	r.restart()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = in.Close() }()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
