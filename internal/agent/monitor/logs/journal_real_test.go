package logs

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// realJournal skips the test unless this machine has a journal the test
// can write (systemd-cat) and read (journalctl): fleet hosts do; a
// development container may not (testdata/with-journald gives it one).
func realJournal(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"journalctl", "systemd-cat"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("no %s: the real-journal tests need systemd", bin)
		}
	}
	if _, err := os.Stat("/run/systemd/journal/stdout"); err != nil {
		t.Skip("journald is not running here (run the test under testdata/with-journald, or on a fleet host)")
	}
	if out, err := exec.Command("journalctl", "--lines=1", "--output=json", "--no-pager", "--quiet").Output(); err != nil || len(out) == 0 {
		t.Skipf("the journal is not readable here: %v", err)
	}
}

// logToJournal logs lines n from..to of src with identifier ident through
// journald's stdout stream, one systemd-cat process for all of them.
func logToJournal(t *testing.T, ident, src string, from, to int) {
	t.Helper()
	var b strings.Builder
	for n := from; n <= to; n++ {
		b.WriteString(seqLine(src, n) + "\n")
	}
	cmd := exec.Command("systemd-cat", "--identifier="+ident, "--priority=warning")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-cat: %v: %s", err, out)
	}
}

func uniqueIdent(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "steward-test-" + hex.EncodeToString(b)
}

// TestForwarder_realJournal forwards entries from the host's journal
// through the real journalctl, filtered by identifier, and resumes at its
// cursor after a restart.
func TestForwarder_realJournal(t *testing.T) {
	realJournal(t)
	r := startRsyslog(t, "tcp", nil)
	ident := uniqueIdent(t)
	dir := t.TempDir()
	spec := api.LogForward{
		Name:    "journal",
		Journal: &api.LogJournal{Identifiers: []string{ident}, Priority: "warning"},
		Target:  api.LogTarget{Address: r.addr(), Protocol: api.LogProtocolTCP},
	}
	cfg := testConfig(t, spec, filepath.Join(dir, "state"))
	cfg.JournalCommand = nil // The real journalctl.
	fw := startForwarder(t, cfg)
	waitFor(t, 10*time.Second, "connected", func() bool { return fw.f.Status().Connected })
	logToJournal(t, ident, "journal", 1, 300)
	waitDelivered(t, r, 20*time.Second, span{"journal", 1, 300})
	fw.stop()
	logToJournal(t, ident, "journal", 301, 500) // While stopped.
	fw = startForwarder(t, cfg)
	logToJournal(t, ident, "journal", 501, 600)
	if dups := waitDelivered(t, r, 20*time.Second, span{"journal", 1, 600}); dups["journal"] != 0 {
		t.Errorf("%d entries sent twice across a clean restart", dups["journal"])
	}
	for _, m := range r.received() {
		if !strings.HasPrefix(m.msg, "journal seq=") {
			continue
		}
		// user(1)*8 + warning(4); the identifier as APP-NAME; a PID.
		if m.pri != "12" || m.app != ident || m.procid == "-" {
			t.Fatalf("header %s %s %s, want PRI 12, APP-NAME %s and a PROCID", m.pri, m.app, m.procid, ident)
		}
	}
	if c := fw.f.Status().Sources[0].Cursor; !strings.HasPrefix(c, "s=") {
		t.Errorf("status cursor %q, want a journald cursor", c)
	}
}

// TestJournalSource_realCursorOfAnotherFilter resumes from a cursor whose
// entry does not match the filter (the filter changed since the cursor
// was saved). journalctl --after-cursor would skip the first matching
// entry after it; --cursor with the cursor's entry dropped does not.
func TestJournalSource_realCursorOfAnotherFilter(t *testing.T) {
	realJournal(t)
	before, after := uniqueIdent(t), uniqueIdent(t)
	logToJournal(t, before, "before", 1, 1)
	logToJournal(t, after, "after", 1, 3)
	out, err := exec.Command("journalctl", "--identifier="+before, "--output=json", "--lines=1", "--no-pager").Output()
	if err != nil {
		t.Fatal(err)
	}
	cursor := between(string(out), `"__CURSOR":"`, `"`)
	if cursor == "" {
		t.Fatalf("no cursor in %s", out)
	}

	env := testSourceEnv()
	s := &journalSource{env: env, argv: []string{"journalctl"}, filter: api.LogJournal{Identifiers: []string{after}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var c collector
	done := make(chan struct{})
	go func() { s.run(ctx, position{Cursor: cursor, known: true}, c.emit); close(done) }()
	waitFor(t, 10*time.Second, "the entries after the cursor", func() bool { got, _ := c.texts(); return len(got) >= 3 })
	cancel()
	<-done
	got, _ := c.texts()
	for i, text := range got {
		if want := seqLine("after", i+1); text != want {
			t.Fatalf("entry %d: %q, want %q (an entry was skipped)", i, text, want)
		}
	}
}

func between(s, open, closing string) string {
	_, rest, ok := strings.Cut(s, open)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, closing)
	return v
}
