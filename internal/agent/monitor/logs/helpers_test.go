package logs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// testConfig shortens every wait so that an outage of seconds shows what
// two minutes would.
func testConfig(t *testing.T, spec api.LogForward, stateDir string) Config {
	t.Helper()
	fixture, err := filepath.Abs("testdata/fake-journalctl")
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Spec:            spec,
		StateDir:        stateDir,
		Logger:          testLogger(),
		JournalCommand:  []string{fixture},
		BackoffMin:      20 * time.Millisecond,
		BackoffMax:      200 * time.Millisecond,
		PollInterval:    10 * time.Millisecond,
		RotateGrace:     100 * time.Millisecond,
		Settle:          500 * time.Millisecond,
		PersistInterval: 100 * time.Millisecond,
		ShutdownTimeout: 2 * time.Second,
	}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// running is a forwarder running in the test's process.
type running struct {
	f    *Forwarder
	stop func()
}

func startForwarder(t *testing.T, cfg Config) *running {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	r := &running{f: f, stop: func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not return within 15 s of its context being cancelled")
			}
		})
	}}
	t.Cleanup(r.stop)
	return r
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seqLine is a line that carries its source and sequence number, so the
// receiver's copy proves what arrived and in which order.
func seqLine(src string, n int) string {
	return fmt.Sprintf("%s seq=%07d payload=%s", src, n, strings.Repeat("x", 40))
}

var seqPattern = regexp.MustCompile(`^(\S+) seq=(\d+) `)

// appendLines appends lines from..to (inclusive) of src to path, each in
// one write, as a logging program does.
func appendLines(t *testing.T, path, src string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	for n := from; n <= to; n++ {
		if _, err := f.WriteString(seqLine(src, n) + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// journalFixture is the journal the fake journalctl prints.
type journalFixture struct {
	path string
	n    int
}

func newJournalFixture(t *testing.T) *journalFixture {
	return &journalFixture{path: filepath.Join(t.TempDir(), "journal.jsonl")}
}

func (j *journalFixture) command(t *testing.T) []string {
	fixture, err := filepath.Abs("testdata/fake-journalctl")
	if err != nil {
		t.Fatal(err)
	}
	return []string{fixture, "--fixture=" + j.path}
}

// add appends entries up to seq n of source "journal", as journald would.
func (j *journalFixture) add(t *testing.T, upTo int) {
	t.Helper()
	if err := j.addN(upTo); err != nil {
		t.Fatal(err)
	}
}

func (j *journalFixture) addN(upTo int) error {
	f, err := os.OpenFile(j.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	var b []byte
	for j.n < upTo {
		j.n++
		b = fmt.Appendf(b, "__CURSOR=s=fixture;i=%d\n__REALTIME_TIMESTAMP=%d\nMESSAGE=%s\nPRIORITY=4\nSYSLOG_FACILITY=3\n"+
			"SYSLOG_IDENTIFIER=jtest\n_PID=4242\n_HOSTNAME=fixturehost\n\n", j.n, time.Now().UnixMicro(), seqLine("journal", j.n))
		if len(b) > 32<<10 {
			if _, err := f.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	_, err = f.Write(b)
	return err
}

// delivery is what the receiver got of one source.
type delivery struct {
	seqs []int // In arrival order, duplicates included.
}

func deliveries(got []received) map[string]*delivery {
	out := map[string]*delivery{}
	for _, m := range got {
		sm := seqPattern.FindStringSubmatch(m.msg)
		if sm == nil {
			continue
		}
		n, _ := strconv.Atoi(sm[2])
		d := out[sm[1]]
		if d == nil {
			d = &delivery{}
			out[sm[1]] = d
		}
		d.seqs = append(d.seqs, n)
	}
	return out
}

// complete says whether from..to all arrived.
func (d *delivery) complete(from, to int) bool {
	if d == nil {
		return to < from
	}
	seen := make(map[int]bool, to-from+1)
	for _, n := range d.seqs {
		if n >= from && n <= to {
			seen[n] = true
		}
	}
	return len(seen) == to-from+1
}

// check fails the test unless exactly from..to arrived, each first copy
// after the first copy of the one before (order per source), and returns
// how many arrived more than once.
func (d *delivery) check(t *testing.T, src string, from, to int) (duplicates int) {
	t.Helper()
	if d == nil {
		t.Fatalf("%s: nothing arrived, want lines %d to %d", src, from, to)
	}
	seen := map[int]bool{}
	next := from
	for _, n := range d.seqs {
		if seen[n] {
			duplicates++
			continue
		}
		if n != next {
			t.Fatalf("%s: line %d arrived where line %d was due (lost, out of order or unexpected)", src, n, next)
		}
		seen[n] = true
		next++
	}
	if next-1 != to {
		t.Fatalf("%s: lines %d to %d arrived of %d to %d; first missing is %d", src, from, next-1, from, to, next)
	}
	return duplicates
}

func mustHostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// stream logs lines steadily to a file and the journal fixture from its
// own goroutine, as a busy host does, until stopped.
type stream struct {
	file    string
	journal *journalFixture
	every   time.Duration
	perTick int

	mu    sync.Mutex
	fileN int // Last line written to the file.
	stop  chan struct{}
	done  chan error
}

func startStream(t *testing.T, file string, j *journalFixture) *stream {
	s := &stream{file: file, journal: j, every: 5 * time.Millisecond, perTick: 20,
		stop: make(chan struct{}), done: make(chan error, 1)}
	go s.run()
	t.Cleanup(func() { s.end(t) })
	return s
}

func (s *stream) run() {
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			s.done <- nil
			return
		case <-tick.C:
		}
		if err := s.tick(); err != nil {
			s.done <- err
			return
		}
	}
}

func (s *stream) tick() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != "" {
		f, err := os.OpenFile(s.file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		for range s.perTick {
			s.fileN++
			if _, err := f.WriteString(seqLine("app", s.fileN) + "\n"); err != nil {
				_ = f.Close()
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if s.journal != nil {
		if err := s.journal.addN(s.journal.n + s.perTick); err != nil {
			return err
		}
	}
	return nil
}

// end stops the stream and returns how many lines it wrote to the file and
// the journal.
func (s *stream) end(t *testing.T) (fileN, journalN int) {
	t.Helper()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	if err := <-s.done; err != nil {
		t.Fatalf("log stream: %v", err)
	}
	s.done <- nil // For a second end (Cleanup).
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal != nil {
		journalN = s.journal.n
	}
	return s.fileN, journalN
}

// span is the lines from..to of one source.
type span struct {
	src      string
	from, to int
}

// waitDelivered waits until the receiver has every line of want, then
// checks order and returns the duplicates per source. On timeout it fails
// with the first line missing.
func waitDelivered(t *testing.T, r *rsyslog, timeout time.Duration, want ...span) map[string]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d := deliveries(r.received())
		done := true
		for _, w := range want {
			done = done && d[w.src].complete(w.from, w.to)
		}
		if done || time.Now().After(deadline) {
			dups := map[string]int{}
			for _, w := range want {
				dups[w.src] = d[w.src].check(t, w.src, w.from, w.to)
			}
			return dups
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func slogStderr() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// streaming is a receiver, a file and the journal fixture, and the
// configuration of a forwarder of both to the receiver.
type streaming struct {
	r    *rsyslog
	file string
	j    *journalFixture
	cfg  Config
}

func newStreaming(t *testing.T) *streaming {
	t.Helper()
	r := startRsyslog(t, "tcp", nil)
	dir := t.TempDir()
	st := &streaming{r: r, file: filepath.Join(dir, "app.log"), j: newJournalFixture(t)}
	st.cfg = testConfig(t, streamSpec(r.addr(), api.LogProtocolTCP, st.file), filepath.Join(dir, "state"))
	st.cfg.JournalCommand = st.j.command(t)
	return st
}

// streamSpec forwards the journal fixture and one file, from their start.
func streamSpec(addr, protocol, file string) api.LogForward {
	return api.LogForward{
		Name:    "stream",
		Journal: &api.LogJournal{},
		Files:   []api.LogFile{{Path: file, Tag: "app"}},
		Target:  api.LogTarget{Address: addr, Protocol: protocol},
		StartAt: api.LogStartBeginning,
	}
}
