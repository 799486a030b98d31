package logs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// childEnv names the configuration of a forwarder the test binary runs as
// a process of its own, to be killed outright.
const childEnv = "STEWARD_LOGFWD_CHILD"

type childConfig struct {
	Spec                                 api.LogForward
	StateDir                             string
	JournalCommand                       []string
	BackoffMin, BackoffMax, PollInterval time.Duration
	RotateGrace, Settle, PersistInterval time.Duration
	ShutdownTimeout                      time.Duration
}

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path))
	}
	os.Exit(m.Run())
}

func runChild(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var c childConfig
	if err := json.Unmarshal(b, &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	f, err := New(Config{
		Spec: c.Spec, StateDir: c.StateDir, JournalCommand: c.JournalCommand,
		Logger:     slogStderr(),
		BackoffMin: c.BackoffMin, BackoffMax: c.BackoffMax, PollInterval: c.PollInterval,
		RotateGrace: c.RotateGrace, Settle: c.Settle, PersistInterval: c.PersistInterval,
		ShutdownTimeout: c.ShutdownTimeout,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	_ = f.Run(context.Background()) // Until killed.
	return 0
}

// startChild runs cfg's forwarder in a process of its own.
func startChild(t *testing.T, cfg Config) *exec.Cmd {
	t.Helper()
	b, err := json.Marshal(childConfig{
		Spec: cfg.Spec, StateDir: cfg.StateDir, JournalCommand: cfg.JournalCommand,
		BackoffMin: cfg.BackoffMin, BackoffMax: cfg.BackoffMax, PollInterval: cfg.PollInterval,
		RotateGrace: cfg.RotateGrace, Settle: cfg.Settle, PersistInterval: cfg.PersistInterval,
		ShutdownTimeout: cfg.ShutdownTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "child.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// The forwarder is stopped (the agent restarting, or its unit being
// upgraded) while lines keep coming, and started again: no line is lost
// and none is sent twice, because a stop waits for the receiver to
// acknowledge what was written and saves exactly that.
func TestForwarder_restartMidStream(t *testing.T) {
	st := newStreaming(t)
	r, file, cfg := st.r, st.file, st.cfg
	s := startStream(t, file, st.j)
	for round := range 3 {
		fw := startForwarder(t, cfg)
		waitFor(t, 10*time.Second, "lines flowing", func() bool { return fw.f.Status().LinesSent > 1000 })
		fw.stop()
		if st := fw.f.Status(); st.Connected {
			t.Errorf("round %d: still connected after Run returned", round)
		}
		time.Sleep(200 * time.Millisecond) // Stopped; lines keep coming.
	}
	startForwarder(t, cfg)
	time.Sleep(300 * time.Millisecond)
	fileN, journalN := s.end(t)
	dups := waitDelivered(t, r, 20*time.Second, span{"app", 1, fileN}, span{"journal", 1, journalN})
	for src, n := range dups {
		if n != 0 {
			t.Errorf("%s: %d lines sent twice across clean restarts; want none", src, n)
		}
	}
	t.Logf("3 restarts mid-stream: %d file and %d journal lines, all delivered once, in order", fileN, journalN)
}

// The forwarder's process is killed outright (SIGKILL, an OOM kill) mid-
// stream and started again: no line is lost. What is sent twice is
// exactly what the receiver had got past the last saved positions: what
// it acknowledged since the last save (at most PersistInterval ago) and
// what was still in flight, which the kernel delivers after the process
// is gone. With the receiver keeping up that is a few hundred lines here;
// with the receiver stalled at that moment it is whatever the two socket
// buffers held.
func TestForwarder_killedMidStream(t *testing.T) {
	t.Run("receiver keeping up", func(t *testing.T) { testKilled(t, false) })
	t.Run("receiver stalled", func(t *testing.T) { testKilled(t, true) })
}

func testKilled(t *testing.T, stalled bool) {
	st := newStreaming(t)
	r, file, cfg := st.r, st.file, st.cfg
	s := startStream(t, file, st.j)
	child := startChild(t, cfg)
	waitFor(t, 10*time.Second, "lines flowing", func() bool { return delivered(r, "app") > 2000 && delivered(r, "journal") > 2000 })
	if stalled {
		if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // A backlog builds up in the forwarder and both sockets.
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	if stalled {
		if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // What the dead process's socket held still arrives.
	before := deliveries(r.received())
	saved, err := loadPositions(filepath.Join(cfg.StateDir, stateFile), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	lineLen := int64(len(seqLine("app", 1)) + 1)
	savedFile := int(saved["file:"+file].Offset / lineLen)
	savedJournal, _ := strconv.Atoi(strings.TrimPrefix(saved["journal"].Cursor, "s=fixture;i="))
	// The saved positions are never ahead of what the receiver got.
	if !before["app"].complete(1, savedFile) || !before["journal"].complete(1, savedJournal) {
		t.Fatalf("saved positions (file line %d, journal entry %d) are ahead of what the receiver got", savedFile, savedJournal)
	}
	past := func(d *delivery, saved int) int {
		n := 0
		for _, seq := range d.seqs {
			if seq > saved {
				n++
			}
		}
		return n
	}
	wantDups := map[string]int{"app": past(before["app"], savedFile), "journal": past(before["journal"], savedJournal)}

	startForwarder(t, cfg)
	time.Sleep(500 * time.Millisecond)
	fileN, journalN := s.end(t)
	dups := waitDelivered(t, r, 20*time.Second, span{"app", 1, fileN}, span{"journal", 1, journalN})
	for src, n := range dups {
		if n != wantDups[src] {
			t.Errorf("%s: %d lines sent twice; want exactly the %d the receiver had past the saved position", src, n, wantDups[src])
		}
	}
	t.Logf("killed mid-stream: %d file and %d journal lines all delivered in order; sent twice: %d and %d (past the saved positions)",
		fileN, journalN, dups["app"], dups["journal"])
}
