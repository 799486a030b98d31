package logs

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestJournalMessage maps entries in the Journal Export Format to RFC
// 5424: text and binary fields (not printable text, or with newlines),
// fields logged twice, fields the forwarder does not use, missing and
// out-of-range values, and a field longer than the read buffer.
func TestJournalMessage(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/journal-sample.export")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	s := &journalSource{localHost: []byte("localhost")}
	var got, cursors []string
	kept := 0 // Of the last entry's message.
	r := bufio.NewReaderSize(f, 64<<10)
	var e journalEntry
	for {
		err := e.read(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read entry %d: %v", len(got)+1, err)
		}
		m := s.message(&e)
		got = append(got, string(appendMessage(nil, &m, 200, false)))
		cursors = append(cursors, string(e.Cursor))
		kept = len(e.Message)
	}
	want := []string{
		"<38>1 2024-05-06T12:53:20.123456Z web1 sshd 812 - - Accepted publickey for deploy from 10.0.0.5 port 51234 ssh2", // auth(4).info
		"<11>1 2024-05-06T12:53:21.000000Z web1 app 99 - - bin\x1b[0m\xff\nsecond line",                                   // user.err; bytes as logged
		"<14>1 2024-05-06T12:53:22.000000Z web1 first 7 - - one",                                                          // first of each
		"<14>1 2024-05-06T12:53:23.000000Z web1 nginx 1234 - - GET / 200",                                                 // _COMM; user.info
		"<3>1 2024-05-06T12:53:24.000000Z web1 kernel - - - EXT4-fs error (device sda1): bad block",                       // kern.err
		"<14>1 2024-05-06T12:53:25.000000Z web_1 odd - - - out of range",                                                  // defaults
		"<13>1 2024-05-06T12:53:26.000000Z web1 systemd 1 39f53479d3a045ac8e11786248231fbf - Started nginx.service - A high performance web server.",
		"<14>1 2024-05-06T12:53:27.000000Z localhost big - - - " + strings.Repeat("m", 200-len("<14>1 2024-05-06T12:53:27.000000Z localhost big - - - ")),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if cursors[0] != "s=7a9c;i=1a2;b=5d1f;m=2f0a1;t=5f6e1c2d3a4b5;x=11" {
		t.Errorf("cursor = %q", cursors[0])
	}
	if kept != maxJournalField {
		t.Errorf("a 70000-byte field kept %d bytes, want %d", kept, maxJournalField)
	}

	// A hostname in the spec replaces the entry's.
	s.hostname = []byte("override")
	e = journalEntry{Hostname: []byte("web1"), Message: []byte("x")}
	m := s.message(&e)
	if h := string(m.hostname); h != "override" {
		t.Errorf("hostname = %q, want the spec's", h)
	}
}

// An entry cut short (journalctl killed mid-write) is an error, never a
// message.
func TestJournalEntry_truncated(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"__CURSOR=c\nMESSAGE=abc", "__CURSOR=c\nMESSAGE\n\x10\x00\x00\x00\x00\x00\x00\x00abc"} {
		var e journalEntry
		if err := e.read(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("%q: read an entry, want an error", in)
		}
	}
}

func TestJournalArgs(t *testing.T) {
	t.Parallel()
	f := api.LogJournal{Units: []string{"nginx.service", "app-*"}, Identifiers: []string{"sshd"}, Priority: "warning"}
	got := journalArgs(f, "s=1;i=2", true)
	want := []string{
		"--output=export", "--quiet", "--no-pager",
		"--output-fields=MESSAGE,MESSAGE_ID,PRIORITY,SYSLOG_FACILITY,SYSLOG_IDENTIFIER,SYSLOG_PID,_COMM,_PID,_HOSTNAME",
		"--follow", "--no-tail", "--cursor=s=1;i=2",
		"--unit=nginx.service", "--unit=app-*", "--identifier=sshd", "--priority=warning",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if got := journalArgs(api.LogJournal{}, "", false); len(got) != 4 {
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

func testSourceEnv() *sourceEnv {
	f := &Forwarder{cfg: Config{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, src: make([]sourceState, 1)}
	return &sourceEnv{enc: encoder{maxLen: 8192}, poll: 10 * time.Millisecond, log: testLogger(), f: f}
}

// A source resumes at its cursor with --cursor, and drops the entry at the
// cursor, which was sent before.
func TestJournalSource_resumesAfterCursor(t *testing.T) {
	t.Parallel()
	j := newJournalFixture(t)
	j.add(t, 5)
	env := testSourceEnv()
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
	env := testSourceEnv()
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
