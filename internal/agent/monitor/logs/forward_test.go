package logs

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func TestForwarder_deliversJournalAndFiles(t *testing.T) {
	r := startRsyslog(t, "tcp", nil)
	dir := t.TempDir()
	app := filepath.Join(dir, "app.log")
	other := filepath.Join(dir, "other.log")
	j := newJournalFixture(t)
	appendLines(t, app, "app", 1, 10) // Before the forwarder: start_at "end" skips these...
	spec := api.LogForward{
		Name:    "all",
		Journal: &api.LogJournal{Identifiers: []string{"jtest"}},
		Files: []api.LogFile{
			{Path: app, Tag: "app", Facility: "local3", Severity: "err"},
			{Path: other}, // Does not exist yet: read from its start once it does.
		},
		Target: api.LogTarget{Address: r.addr(), Protocol: api.LogProtocolTCP},
	}
	cfg := testConfig(t, spec, filepath.Join(dir, "state"))
	cfg.JournalCommand = j.command(t)
	fw := startForwarder(t, cfg)
	waitFor(t, 10*time.Second, "start positions", func() bool {
		st := fw.f.Status()
		return st.Connected && st.Sources[1].Offset > 0
	})
	j.add(t, 2000)
	appendLines(t, app, "app", 11, 2000) // ...and sends these.
	appendLines(t, other, "other", 1, 2000)
	// Lines 1-10 of app.log predate the forwarder (start_at "end"): the
	// check fails on any of them.
	dups := waitDelivered(t, r, 20*time.Second, span{"journal", 1, 2000}, span{"app", 11, 2000}, span{"other", 1, 2000})
	for src, n := range dups {
		if n != 0 {
			t.Errorf("%s: %d duplicates on a connection that never broke", src, n)
		}
	}
	got := r.received()

	// The mapping, as rsyslog parsed it.
	byApp := map[string]received{}
	for _, m := range got {
		byApp[m.app] = m
	}
	host := fileHostname(t)
	for _, c := range []struct {
		app, want string
	}{
		{"jtest", "fixturehost jtest 4242 - 28"},   // daemon(3)*8 + warning(4)
		{"app", host + " app - - 155"},             // local3(19)*8 + err(3)
		{"other.log", host + " other.log - - 133"}, // local0(16)*8 + notice(5)
	} {
		m, ok := byApp[c.app]
		if !ok {
			t.Fatalf("no message with APP-NAME %q at the receiver", c.app)
		}
		if got := strings.Join([]string{m.hostname, m.app, m.procid, m.msgid, m.pri}, " "); got != c.want {
			t.Errorf("%s: header %q, want %q", c.app, got, c.want)
		}
	}
	st := fw.f.Status()
	if st.LinesSent != 2000+1990+2000 {
		t.Errorf("status lines_sent = %d, want %d", st.LinesSent, 2000+1990+2000)
	}
	if st.Sources[0].Cursor != "s=fixture;i=2000" {
		t.Errorf("status journal cursor = %q, want the last entry's", st.Sources[0].Cursor)
	}

	// The same on /metrics.
	want := fmt.Sprintf(`# HELP steward_log_forward_connected Whether the forwarder has a connection to its receiver open.
# TYPE steward_log_forward_connected gauge
steward_log_forward_connected{log_forward="all"} 1
# HELP steward_log_forward_lines_sent_total Lines the receiver acknowledged (a line sent again after a reconnect counts again).
# TYPE steward_log_forward_lines_sent_total counter
steward_log_forward_lines_sent_total{log_forward="all",source="journal"} 2000
steward_log_forward_lines_sent_total{log_forward="all",source=%q} 1990
steward_log_forward_lines_sent_total{log_forward="all",source=%q} 2000
`, app, other)
	if err := testutil.CollectAndCompare(fw.f, strings.NewReader(want),
		"steward_log_forward_connected", "steward_log_forward_lines_sent_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(fw.f, "steward_log_forward_backlog_bytes"); n != 2 {
		t.Errorf("%d backlog series, want one per file", n)
	}
}

func fileHostname(t *testing.T) string {
	t.Helper()
	m := message{hostname: []byte(mustHostname(t))}
	return string(appendHeaderField(nil, m.hostname, maxHostname))
}
