package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup/schedule"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// testDaemon is a RunDaemon running in the test process.
type testDaemon struct {
	addr   string
	logs   *logRecorder
	cancel context.CancelFunc
	done   chan error

	once    sync.Once
	err     error
	stopped time.Time
}

// startTestDaemon runs RunDaemon with cfg on a free loopback port until the
// test ends or stop is called.
func startTestDaemon(t *testing.T, cfg DaemonConfig) *testDaemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	d := &testDaemon{logs: &logRecorder{}, cancel: cancel, done: make(chan error, 1)}
	cfg.Listen = "127.0.0.1:0"
	cfg.OnListen = func(a net.Addr) { addrc <- a }
	cfg.Logger = slog.New(d.logs)
	go func() { d.done <- RunDaemon(ctx, cfg) }()
	select {
	case a := <-addrc:
		d.addr = a.String()
	case err := <-d.done:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("daemon did not start within 5s")
	}
	t.Cleanup(func() { d.cancel(); d.wait(time.Minute) })
	return d
}

// stop cancels the daemon (as SIGTERM does) and returns how long RunDaemon
// took to return, failing the test when that is more than within.
func (d *testDaemon) stop(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	d.cancel()
	if !d.wait(within) {
		t.Fatalf("the daemon did not stop within %s", within)
	}
	if d.err != nil {
		t.Fatalf("RunDaemon: %v", d.err)
	}
	return d.stopped.Sub(began)
}

func (d *testDaemon) wait(within time.Duration) bool {
	if !d.stopped.IsZero() {
		return true
	}
	select {
	case err := <-d.done:
		d.once.Do(func() { d.err, d.stopped = err, time.Now() })
		return true
	case <-time.After(within):
		return !d.stopped.IsZero()
	}
}

// metrics returns the body of GET /metrics.
func (d *testDaemon) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + d.addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v: %s", resp.StatusCode, err, b)
	}
	return string(b)
}

// waitMetric polls /metrics until the sample series (name and labels as
// printed) satisfies ok, and fails after within.
func (d *testDaemon) waitMetric(t *testing.T, series string, within time.Duration, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		body := d.metrics(t)
		if v, found := sampleValue(body, series); found && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %s, /metrics never had a wanted %s:\n%s", within, series, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sampleValue finds the line of series in a Prometheus text exposition.
func sampleValue(body, series string) (float64, bool) {
	for line := range strings.SplitSeq(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// logRecorder keeps every log record, so a test sees when the daemon did
// something. Attributes added with With are dropped.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}

// wait returns when the first record with msg and the attribute key=value
// was logged, failing the test when none is within the time given.
func (l *logRecorder) wait(t *testing.T, msg, key, value string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if at, ok := l.find(msg, key, value); ok {
			return at
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log %q with %s=%s within %s", msg, key, value, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *logRecorder) find(msg, key, value string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Message != msg {
			continue
		}
		found := false
		r.Attrs(func(a slog.Attr) bool {
			found = a.Key == key && a.Value.String() == value
			return !found
		})
		if found {
			return r.Time, true
		}
	}
	return time.Time{}, false
}

// fakeComponent is a component whose loop is run.
type fakeComponent struct {
	name string
	run  func(ctx context.Context, rt *core.Runtime) error
}

func (f *fakeComponent) Name() string                                    { return f.name }
func (f *fakeComponent) Run(ctx context.Context, rt *core.Runtime) error { return f.run(ctx, rt) }
func (f *fakeComponent) Describe(chan<- *prometheus.Desc)                {}
func (f *fakeComponent) Collect(chan<- prometheus.Metric)                {}

// testSchedule returns a schedule that backs up a small tree of its own to
// a directory under p.Root, encrypted to a fresh age key.
func testSchedule(t *testing.T, p core.Paths, name, cron string) api.BackupSchedule {
	t.Helper()
	src := filepath.Join(p.Root, "srv", name)
	dest := filepath.Join(p.Root, "backups")
	// configure checks the paths under Root, the engine reads them as they
	// are: under a temporary root both must exist.
	for _, d := range []string{src, filepath.Join(p.Root, src), dest} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "f"), []byte(strings.Repeat("steward ", 512)), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return api.BackupSchedule{Name: name, Paths: []string{src}, Schedule: cron,
		Destination: api.BackupDestination{Path: dest}, Recipients: []string{id.Recipient().String()}}
}

// writeSchedule puts cfg where the provider's configure puts it.
func writeSchedule(t *testing.T, p core.Paths, cfg api.BackupSchedule) {
	t.Helper()
	if err := os.MkdirAll(schedule.ConfigDir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(schedule.ConfigFile(p, cfg.Name), cfg.Render(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clockAt returns a clock that runs at the real pace but shows at now the
// time at.
func clockAt(at time.Time) func() time.Time {
	shift := time.Until(at)
	return func() time.Time { return time.Now().Add(shift) }
}
