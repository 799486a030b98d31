package logs

import (
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The receiver stops (as `systemctl stop rsyslog` does) while lines keep
// coming, stays down, and comes back: every line arrives, in order per
// source. The outage is seconds with a shortened backoff, where a host
// would see minutes with the default one.
func TestForwarder_receiverDownThenBack(t *testing.T) {
	t.Run("stopped", func(t *testing.T) { testReceiverDown(t, syscall.SIGTERM) })
	// A crash loses what rsyslog held in its memory queue and socket
	// buffer: lines its TCP had acknowledged. They are sent again.
	t.Run("crashed", func(t *testing.T) { testReceiverDown(t, syscall.SIGKILL) })
	// A receiver that hangs keeps acknowledging into its socket buffer
	// until that is full, then dies: what its TCP acknowledged before the
	// hang never reached its output. A forwarder that trusts TCP
	// acknowledgements alone loses those lines, and so does one that
	// resends only what was acknowledged in the last Settle before the
	// break (the hang is longer); this one stops the settle clock while the
	// receiver acknowledges nothing.
	t.Run("hung then crashed", func(t *testing.T) { testReceiverDown(t, syscall.SIGSTOP) })
}

func testReceiverDown(t *testing.T, sig syscall.Signal) {
	setup := newStreaming(t)
	r := setup.r
	fw := startForwarder(t, setup.cfg)
	s := startStream(t, setup.file, setup.j)

	waitFor(t, 10*time.Second, "lines flowing", func() bool { return fw.f.Status().LinesSent > 500 })
	if sig == syscall.SIGSTOP {
		if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // Four times the test's Settle.
		sig = syscall.SIGKILL
	}
	r.signalStop(sig)
	waitFor(t, 10*time.Second, "the outage to show in status", func() bool {
		st := fw.f.Status()
		return !st.Connected && st.LastError != ""
	})
	time.Sleep(3 * time.Second) // Down for a while; lines keep coming.
	st := fw.f.Status()
	if !strings.Contains(st.LastError, r.addr()) {
		t.Errorf("status last_error %q does not name the receiver %s", st.LastError, r.addr())
	}
	for _, src := range st.Sources {
		if src.LagSeconds < 1 {
			t.Errorf("%s: lag %.2fs after 3 s of outage, want it to grow", src.Source, src.LagSeconds)
		}
	}
	r.restart()
	time.Sleep(500 * time.Millisecond)
	fileN, journalN := s.end(t)
	dups := waitDelivered(t, r, 30*time.Second, span{"app", 1, fileN}, span{"journal", 1, journalN})
	t.Logf("outage: %d file and %d journal lines, all delivered in order; %d and %d sent twice (the replay after the break)",
		fileN, journalN, dups["app"], dups["journal"])
	if st := fw.f.Status(); !st.Connected || st.Sources[0].LagSeconds != 0 {
		t.Errorf("after recovery: connected %v, journal lag %.2fs; want connected and caught up", st.Connected, st.Sources[0].LagSeconds)
	}
}

// A receiver that accepts connections and closes them at once (a proxy
// with nothing behind it, a receiver refusing this sender) is retried with
// backoff like one that is down, not in a tight loop.
func TestForwarder_receiverClosesAtOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	dir := t.TempDir()
	file := filepath.Join(dir, "app.log")
	appendLines(t, file, "app", 1, 10)
	cfg := testConfig(t, fileOnlySpec(l.Addr().String(), file), filepath.Join(dir, "state"))
	fw := startForwarder(t, cfg)
	time.Sleep(2 * time.Second)
	// Backoff 20 ms doubling to 200 ms: about 14 attempts in 2 s.
	if n := accepted.Load(); n > 30 || n < 3 {
		t.Errorf("%d connections in 2 s; want retries with backoff between them", n)
	}
	// What its TCP acknowledged before each close never settled: the
	// position stays where it was. (Connected is not asserted: between a
	// dial and the receiver's close it is briefly, and truly, true.)
	if st := fw.f.Status(); st.Sources[0].Offset != 0 || st.LastError == "" {
		t.Errorf("status: offset %d, last error %q; want offset 0 and the close reported", st.Sources[0].Offset, st.LastError)
	}
}
