package logs

import (
	"bufio"
	"bytes"
	"context"
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

// The forwarding benchmarks send benchLines lines through TCP (RFC 5424,
// octet counting) to a real rsyslogd and time them until the receiver has
// written the last one. They report lines per second and the sender's CPU
// per 100k lines, for Steward's forwarder and for an rsyslogd doing the
// same job, on the same machine, with the same lines and the same
// receiver. Run them one at a time:
//
//	go test -run '^$' -bench Forward -benchtime 3x ./internal/agent/monitor/logs/
//
// The journal ones need journald (a fleet host, or testdata/with-journald).
const benchLines = 100_000

// benchTemplate makes the receiver write the text only, so the test can
// tell it has everything from the output's size alone.
const benchTemplate = `%msg%\n`

func writeBenchFile(b *testing.B, path string) int64 {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	for n := 1; n <= benchLines; n++ {
		buf = append(append(buf, seqLine("app", n)...), '\n')
	}
	if _, err := f.Write(buf); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return int64(len(buf))
}

// waitSize waits until the receiver wrote want bytes.
func waitSize(b *testing.B, r *rsyslog, want int64) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		fi, err := os.Stat(r.out)
		if err == nil && fi.Size() >= want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("receiver got %d of %d bytes", fi.Size(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func selfCPU() time.Duration  { return rusage(syscall.RUSAGE_SELF) }
func childCPU() time.Duration { return rusage(syscall.RUSAGE_CHILDREN) }
func rusage(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's CPU time so far, from /proc/<pid>/stat.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ is 100 on Linux.
}

func report(b *testing.B, elapsed, cpu time.Duration) {
	lines := float64(b.N * benchLines)
	b.ReportMetric(lines/elapsed.Seconds(), "lines/s")
	b.ReportMetric(float64(cpu.Milliseconds())/(lines/100_000), "cpu-ms/100k-lines")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkForwardFile is Steward's forwarder following a file.
func BenchmarkForwardFile(b *testing.B) {
	dir := b.TempDir()
	file := filepath.Join(dir, "app.log")
	size := writeBenchFile(b, file)
	var elapsed, cpu time.Duration
	for i := range b.N {
		r := startRsyslogWith(b, "tcp", nil, benchTemplate)
		f, err := New(Config{
			Spec:     fileOnlySpec(r.addr(), file),
			StateDir: filepath.Join(dir, fmt.Sprintf("state%d", i)),
			Logger:   slogStderr(),
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start, cpu0 := time.Now(), selfCPU()
		go func() { done <- f.Run(ctx) }()
		waitSize(b, r, size)
		elapsed += time.Since(start)
		cpu += selfCPU() - cpu0
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		r.stop()
	}
	report(b, elapsed, cpu)
}

// BenchmarkForwardFileRsyslog is the peer: an rsyslogd reading the same
// file with imfile and sending it with omfwd (TCP, octet counting, RFC
// 5424) to the same receiver.
func BenchmarkForwardFileRsyslog(b *testing.B) {
	dir := b.TempDir()
	file := filepath.Join(dir, "app.log")
	size := writeBenchFile(b, file)
	var elapsed, cpu time.Duration
	for i := range b.N {
		r := startRsyslogWith(b, "tcp", nil, benchTemplate)
		work := filepath.Join(dir, fmt.Sprintf("peer%d", i))
		conf := fmt.Sprintf(`global(workDirectory=%q)
module(load="imfile")
input(type="imfile" file=%q tag="app" ruleset="fwd")
ruleset(name="fwd") {
  action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" tcp_framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
}
`, work, file, r.port)
		e, c := runPeer(b, work, conf, func() { waitSize(b, r, size) })
		elapsed, cpu = elapsed+e, cpu+c
		r.stop()
	}
	report(b, elapsed, cpu)
}

// runPeer runs a forwarding rsyslogd with conf until done returns, and
// returns the time and its CPU.
func runPeer(b *testing.B, work, conf string, done func()) (time.Duration, time.Duration) {
	b.Helper()
	if err := os.MkdirAll(work, 0o700); err != nil {
		b.Fatal(err)
	}
	confFile := filepath.Join(work, "rsyslog.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(work, "rsyslogd.stderr"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(rsyslogdPath(b), "-n", "-f", confFile, "-i", filepath.Join(work, "pid"))
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done()
	elapsed := time.Since(start)
	cpu := procCPU(b, cmd.Process.Pid)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	return elapsed, cpu
}

// logBenchJournal puts benchLines entries into the journal under a new
// identifier and waits until journald has stored them all. It returns the
// cursor of the last entry before them, where both forwarders start, so
// that neither reads the entries of an earlier round.
func logBenchJournal(b *testing.B) (ident, cursor string, size int64) {
	b.Helper()
	out, err := exec.Command("journalctl", "--lines=1", "--output=export", "--output-fields=__CURSOR", "--no-pager").Output()
	if err != nil {
		b.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(out), "__CURSOR=")
	cursor, _, _ = strings.Cut(rest, "\n")
	ident = fmt.Sprintf("steward-bench-%d", time.Now().UnixNano())
	var buf strings.Builder
	for n := 1; n <= benchLines; n++ {
		buf.WriteString(seqLine("app", n) + "\n")
	}
	cmd := exec.Command("systemd-cat", "--identifier="+ident)
	cmd.Stdin = strings.NewReader(buf.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("systemd-cat: %v: %s", err, out)
	}
	want := seqLine("app", benchLines)
	deadline := time.Now().Add(time.Minute)
	for {
		out, _ := exec.Command("journalctl", "--identifier="+ident, "--lines=1", "--output=cat", "--no-pager").Output()
		if strings.TrimSpace(string(out)) == want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("journald did not store all %d entries (rate limited?)", benchLines)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ident, cursor, int64(buf.Len())
}

func realJournalB(b *testing.B) {
	if _, err := os.Stat("/run/systemd/journal/stdout"); err != nil {
		b.Skip("journald is not running here (run under testdata/with-journald, or on a fleet host)")
	}
}

// BenchmarkForwardJournal is Steward's forwarder reading the journal with
// journalctl; journalctl's CPU is counted with the forwarder's.
func BenchmarkForwardJournal(b *testing.B) {
	realJournalB(b)
	dir := b.TempDir()
	var elapsed, cpu, journalctl time.Duration
	for i := range b.N {
		b.StopTimer()
		ident, cursor, size := logBenchJournal(b)
		r := startRsyslogWith(b, "tcp", nil, benchTemplate)
		b.StartTimer()
		spec := api.LogForward{
			Name:    "bench",
			Journal: &api.LogJournal{Identifiers: []string{ident}},
			Target:  api.LogTarget{Address: r.addr(), Protocol: api.LogProtocolTCP},
		}
		state := filepath.Join(dir, fmt.Sprintf("state%d", i))
		if err := os.MkdirAll(state, 0o700); err != nil {
			b.Fatal(err)
		}
		if err := savePositions(filepath.Join(state, stateFile), map[string]position{"journal": {Cursor: cursor}}); err != nil {
			b.Fatal(err)
		}
		f, err := New(Config{Spec: spec, StateDir: state, Logger: slogStderr()})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start, cpu0, child0 := time.Now(), selfCPU(), childCPU()
		go func() { done <- f.Run(ctx) }()
		waitSize(b, r, size)
		elapsed += time.Since(start)
		self := selfCPU() - cpu0
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		child := childCPU() - child0 // journalctl, waited for by now.
		cpu += self + child
		journalctl += child
		r.stop()
	}
	report(b, elapsed, cpu)
	b.ReportMetric(float64(journalctl.Milliseconds())/float64(b.N), "journalctl-cpu-ms/100k-lines")
}

// BenchmarkForwardJournalRsyslog is the peer: rsyslogd's own
// imjournal and omfwd, sending the same entries to the same receiver.
func BenchmarkForwardJournalRsyslog(b *testing.B) {
	realJournalB(b)
	dir := b.TempDir()
	var elapsed, cpu time.Duration
	for i := range b.N {
		b.StopTimer()
		ident, cursor, size := logBenchJournal(b)
		r := startRsyslogWith(b, "tcp", nil, benchTemplate)
		b.StartTimer()
		work := filepath.Join(dir, fmt.Sprintf("peer%d", i))
		if err := os.MkdirAll(work, 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, "imjournal.state"), []byte(cursor), 0o600); err != nil {
			b.Fatal(err)
		}
		// imjournal starts at the same cursor (its state file) and has no
		// identifier filter: the rule picks the entries, as journalctl's
		// --identifier does for the forwarder.
		conf := fmt.Sprintf(`global(workDirectory=%q)
module(load="imjournal" stateFile="imjournal.state" ignorePreviousMessages="off" ratelimit.interval="0")
if $programname == %q then {
  action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" tcp_framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
}
`, work, ident, r.port)
		e, c := runPeer(b, work, conf, func() { waitSize(b, r, size) })
		elapsed, cpu = elapsed+e, cpu+c
		r.stop()
	}
	report(b, elapsed, cpu)
}

// BenchmarkJournalEntry is the forwarder's own cost per journal entry:
// reading journalctl's export of it and encoding the syslog message.
func BenchmarkJournalEntry(b *testing.B) {
	entry := []byte("__CURSOR=s=7a9c0f7e5b6d4c3a;i=1a2b3;b=5d1f6f1e2c3b4a59;m=2f0a1b;t=5f6e1c2d3a4b5;x=1122334455667788\n" +
		"__REALTIME_TIMESTAMP=1715000000123456\n__MONOTONIC_TIMESTAMP=197793\n_BOOT_ID=5d1f6f1e2c3b4a5968778695a4b3c2d1\n" +
		"PRIORITY=6\nSYSLOG_FACILITY=4\nSYSLOG_IDENTIFIER=sshd\nSYSLOG_PID=812\n_PID=812\n_COMM=sshd\n_HOSTNAME=web1\n" +
		"MESSAGE=Accepted publickey for deploy from 10.0.0.5 port 51234 ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyz\n\n")
	s := &journalSource{localHost: []byte("web1")}
	in := bytes.NewReader(entry)
	r := bufio.NewReaderSize(in, 64<<10)
	var e journalEntry
	out := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(entry)))
	for b.Loop() {
		in.Reset(entry)
		r.Reset(in)
		if err := e.read(r); err != nil {
			b.Fatal(err)
		}
		m := s.message(&e)
		out = appendMessage(out[:0], &m, 8192, true)
	}
}

// BenchmarkIdle is what a forwarder costs while nothing is logged: three
// files looked at every PollInterval (250 ms) and a journalctl waiting,
// over 10 s per round, as CPU milliseconds per minute.
func BenchmarkIdle(b *testing.B) {
	r := startRsyslogWith(b, "tcp", nil, benchTemplate)
	dir := b.TempDir()
	spec := api.LogForward{Name: "idle", Target: api.LogTarget{Address: r.addr(), Protocol: api.LogProtocolTCP}}
	for i := range 3 {
		file := filepath.Join(dir, fmt.Sprintf("app%d.log", i))
		if err := os.WriteFile(file, []byte(seqLine("app", 1)+"\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		spec.Files = append(spec.Files, api.LogFile{Path: file})
	}
	f, err := New(Config{Spec: spec, StateDir: filepath.Join(dir, "state"), Logger: slogStderr()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	time.Sleep(time.Second) // Settled.
	var cpu, elapsed time.Duration
	for range b.N {
		start, cpu0 := time.Now(), selfCPU()
		time.Sleep(10 * time.Second)
		cpu += selfCPU() - cpu0
		elapsed += time.Since(start)
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/elapsed.Minutes(), "cpu-ms/min")
	b.ReportMetric(0, "ns/op")
}
