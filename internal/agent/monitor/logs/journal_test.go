package logs

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestJournalMessage maps journalctl's JSON forms to RFC 5424: strings,
// byte arrays (not printable UTF-8), fields logged twice, nulls, missing
// and out-of-range values.
func TestJournalMessage(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/journal-sample.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	s := &journalSource{localHost: []byte("localhost")}
	var got []string
	var cursors []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e journalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("decode %s: %v", sc.Text(), err)
		}
		m := s.message(&e)
		got = append(got, string(appendMessage(nil, &m, 8192, false)))
		cursors = append(cursors, string(e.Cursor))
	}
	want := []string{
		"<38>1 2024-05-06T12:53:20.123456Z web1 sshd 812 - - Accepted publickey for deploy from 10.0.0.5 port 51234 ssh2", // auth(4).info
		"<11>1 2024-05-06T12:53:21.000000Z web1 app 99 - - bin\x1b[0m\xff",                                                // user.err; bytes as logged
		"<14>1 2024-05-06T12:53:22.000000Z web1 first 7 - - one",                                                          // first of each
		"<14>1 2024-05-06T12:53:23.000000Z web1 nginx 1234 - - GET / 200",                                                 // _COMM; user.info
		"<3>1 2024-05-06T12:53:24.000000Z web1 kernel - - - EXT4-fs error (device sda1): bad block",                       // kern.err
		"<14>1 2024-05-06T12:53:25.000000Z web_1 odd - - - out of range",                                                  // defaults
		"<13>1 2024-05-06T12:53:26.000000Z web1 systemd 1 39f53479d3a045ac8e11786248231fbf - Started nginx.service - A high performance web server.",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if cursors[0] != "s=7a9c;i=1a2;b=5d1f;m=2f0a1;t=5f6e1c2d3a4b5;x=11" {
		t.Errorf("cursor = %q", cursors[0])
	}

	// A hostname in the spec replaces the entry's.
	s.hostname = []byte("override")
	var e journalEntry
	if err := json.Unmarshal([]byte(`{"_HOSTNAME":"web1","MESSAGE":"x"}`), &e); err != nil {
		t.Fatal(err)
	}
	m := s.message(&e)
	if h := string(m.hostname); h != "override" {
		t.Errorf("hostname = %q, want the spec's", h)
	}
}

func TestJournalArgs(t *testing.T) {
	t.Parallel()
	f := api.LogJournal{Units: []string{"nginx.service", "app-*"}, Identifiers: []string{"sshd"}, Priority: "warning"}
	got := journalArgs(f, "s=1;i=2", true)
	want := []string{
		"--output=json", "--all", "--quiet", "--no-pager",
		"--output-fields=MESSAGE,MESSAGE_ID,PRIORITY,SYSLOG_FACILITY,SYSLOG_IDENTIFIER,SYSLOG_PID,_COMM,_PID,_HOSTNAME",
		"--follow", "--no-tail", "--cursor=s=1;i=2",
		"--unit=nginx.service", "--unit=app-*", "--identifier=sshd", "--priority=warning",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if got := journalArgs(api.LogJournal{}, "", false); len(got) != 5 {
		t.Errorf("no filter, no cursor, no follow: %q", got)
	}
}

// collector is an emitFunc that keeps what a source emits.
type collector struct {
	mu      sync.Mutex
	batches []*batch
}

func (c *collector) emit(b *batch) bool {
	cp := *b
	cp.data = append([]byte(nil), b.data...)
	cp.ends = append([]int(nil), b.ends...)
	releaseBatch(b)
	c.mu.Lock()
	c.batches = append(c.batches, &cp)
	c.mu.Unlock()
	return true
}

// texts are the messages' texts (after the header), and pos the last position.
func (c *collector) texts() ([]string, position) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	var pos position
	for _, b := range c.batches {
		start := 0
		for _, end := range b.ends {
			// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
			f := strings.SplitN(string(b.data[start:end]), " ", 8)
			out = append(out, strings.Join(f[7:], ""))
			start = end
		}
		pos = b.pos
	}
	return out, pos
}

func testSourceEnv(t *testing.T) *sourceEnv {
	f := &Forwarder{cfg: Config{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, src: make([]sourceState, 1)}
	return &sourceEnv{enc: encoder{maxLen: 8192}, poll: 10 * time.Millisecond, log: testLogger(t), f: f}
}

// A source resumes at its cursor with --cursor, and drops the entry at the
// cursor, which was sent before.
func TestJournalSource_resumesAfterCursor(t *testing.T) {
	t.Parallel()
	j := newJournalFixture(t)
	j.add(t, 5)
	env := testSourceEnv(t)
	s := &journalSource{env: env, argv: j.command(t), startAtEnd: true}

	start, err := s.start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if start.Cursor != "s=fixture;i=5" || !start.known {
		t.Fatalf("start at end: %+v, want the last entry's cursor", start)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var c collector
	done := make(chan struct{})
	go func() { s.run(ctx, position{Cursor: "s=fixture;i=3", known: true}, c.emit); close(done) }()
	waitFor(t, 5*time.Second, "entries 4 and 5", func() bool { got, _ := c.texts(); return len(got) >= 2 })
	j.add(t, 6)
	waitFor(t, 5*time.Second, "entry 6, appended while following", func() bool { got, _ := c.texts(); return len(got) >= 3 })
	cancel()
	<-done
	got, pos := c.texts()
	want := []string{seqLine("journal", 4), seqLine("journal", 5), seqLine("journal", 6)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if pos.Cursor != "s=fixture;i=6" {
		t.Errorf("position %q, want the last entry's cursor", pos.Cursor)
	}
	args, err := os.ReadFile(j.path + ".args")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(args), "--cursor=s=fixture;i=3") || strings.Contains(string(args), "--after-cursor") {
		t.Errorf("journalctl runs: %s; want --cursor, never --after-cursor", args)
	}
}

// journalctl failing (no journal, no permission) is a source error that
// shows in status and is retried; it never stops the forwarder.
func TestJournalSource_failureIsRetried(t *testing.T) {
	t.Parallel()
	env := testSourceEnv(t)
	script := filepath.Join(t.TempDir(), "journalctl")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'No journal files were found.' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &journalSource{env: env, argv: []string{script}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx, position{known: true}, (&collector{}).emit); close(done) }()
	waitFor(t, 5*time.Second, "the error in status", func() bool {
		env.f.mu.Lock()
		defer env.f.mu.Unlock()
		return strings.Contains(env.f.src[0].err, "No journal files were found.")
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("source did not stop on cancel")
	}
}
