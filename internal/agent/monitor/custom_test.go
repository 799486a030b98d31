package monitor

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/collect"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

type customStatus = api.ObjectStatus[api.CustomMetric, api.CustomMetricObserved]

// customHost is a fixture host for custom metrics: /bin/cat exists under
// its root (the controller checks the program there), and the command's
// input is a real file the test controls (the daemon runs the real cat).
func customHost(t *testing.T) (p core.Paths, methods map[string]core.Handler, input string) {
	t.Helper()
	p = coretest.NewHost(t)
	methods = map[string]core.Handler{}
	Register(methods)
	writeFixture(t, filepath.Join(p.Root, "bin/cat"), "#!/bin/sh\n", 0o755)
	input = filepath.Join(t.TempDir(), "value")
	writeFixture(t, input, "42\n", 0o644)
	return p, methods, input
}

func writeFixture(t *testing.T, file, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// runningDaemon is the part of a daemon custom metrics need: a monitor
// loading the commands as the daemon does, its routes on the socket.
type runningDaemon struct {
	t *testing.T
	m *Monitor
}

func startDaemon(t *testing.T, p core.Paths) *runningDaemon {
	t.Helper()
	m, err := New(core.Deps{Paths: p}, api.Monitoring{Interval: "2s"}, Options{Commands: LoadCommands(p)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := core.ListenSocket(p)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	m.Routes(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &runningDaemon{t: t, m: m}
}

// collect rereads the commands, as after a configuration change, and makes
// one collection; it returns the reload's error.
func (d *runningDaemon) collect() error {
	d.t.Helper()
	err := d.m.reloadCommands(&core.Runtime{Logger: slog.New(slog.DiscardHandler)})
	if cerr := d.m.collectOnce(context.Background(), nil, d.m.deps.Now()); cerr != nil {
		d.t.Fatal(cerr)
	}
	return err
}

// served is the value /metrics serves for a series without labels.
func (d *runningDaemon) served(name string) (float64, bool) {
	fams, _ := d.m.Gather()
	for _, s := range collect.Flatten(fams) {
		if s.Name == name && len(s.Labels) == 0 {
			return s.Value, true
		}
	}
	return 0, false
}

// TestCustomMetric_lifecycle: configure refuses a command that cannot run
// with a code the provider blames on its attribute; a configured command
// is run by the daemon, which serves its number and reports how the run
// went through status, as long as it runs; removed, it is gone.
func TestCustomMetric_lifecycle(t *testing.T) {
	t.Parallel()
	p, methods, input := customHost(t)
	deps := core.Deps{Paths: p}
	configure := func(spec api.CustomMetric) (customStatus, error) {
		var st customStatus
		err := coretest.Call(t, methods, deps, api.CustomMetricKind.Configure().Name, spec, &st)
		return st, err
	}
	writeFixture(t, filepath.Join(p.Root, "usr/bin/notes.txt"), "not a program\n", 0o644)
	// A program a local user could replace would run as root every interval.
	writeFixture(t, filepath.Join(p.Root, "home/u/tool"), "#!/bin/sh\necho 1\n", 0o755)
	if err := os.Chown(filepath.Join(p.Root, "home/u/tool"), 1001, 1001); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		spec     api.CustomMetric
		code     string
		contains string
	}{
		{"missing program", api.CustomMetric{Name: "q", Command: []string{"/usr/bin/no-such-tool"}}, api.CodeProgramMissing, "command[0] /usr/bin/no-such-tool: no such file on the host"},
		{"not executable", api.CustomMetric{Name: "q", Command: []string{"/usr/bin/notes.txt"}}, api.CodeProgramMissing, "not executable (mode 0644)"},
		{"a directory", api.CustomMetric{Name: "q", Command: []string{"/usr/bin"}}, api.CodeProgramMissing, "not a regular file"},
		{"a user's program", api.CustomMetric{Name: "q", Command: []string{"/home/u/tool"}}, api.CodeProgramMissing, "can be changed by a user other than root"},
		{"timeout past the interval", api.CustomMetric{Name: "q", Command: []string{"/bin/cat"}, Timeout: "15s"}, api.CodeTimeoutTooLong, "timeout 15s: want at most the host's collection interval, 10s"},
		{"shell line", api.CustomMetric{Name: "q", Command: []string{"cat /etc/shadow | wc -l"}}, api.CodeBadRequest, `command[0] "cat /etc/shadow | wc -l"`},
		{"dash in name", api.CustomMetric{Name: "queue-depth", Command: []string{"/bin/cat"}}, api.CodeBadRequest, `name "queue-depth"`},
	} {
		_, err := configure(tc.spec)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != tc.code || !strings.Contains(ae.Message, tc.contains) {
			t.Errorf("%s: configure = %v, want %s containing %q", tc.name, err, tc.code, tc.contains)
		}
	}
	if _, err := os.Stat(filepath.Join(p.ConfigDir, "custom_metrics", "q.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused spec was written: %v", err)
	}

	// No daemon yet: the object is there, the observed state says why
	// nothing is known.
	spec := api.CustomMetric{Name: "queue_depth", Command: []string{"/bin/cat", input}, Help: "Mails waiting."}
	st, err := configure(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Present || st.Observed.Collecting || !strings.Contains(st.Observed.DaemonError, "the agent daemon does not answer on "+p.Socket) {
		t.Errorf("status without a daemon: %+v", st)
	}
	if fi, err := os.Stat(p.ObjectFile("custom_metrics", "queue_depth")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("spec file: %v %v", fi, err)
	}

	d := startDaemon(t, p)
	if err := d.collect(); err != nil {
		t.Fatal(err)
	}
	if v, ok := d.served("steward_custom_queue_depth"); !ok || v != 42 {
		t.Errorf("steward_custom_queue_depth = %v (served %v), want 42", v, ok)
	}
	status := func(name string) customStatus {
		t.Helper()
		var st customStatus
		if err := coretest.Call(t, methods, deps, api.CustomMetricKind.Status().Name, api.ObjectName{Name: name}, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	o := status("queue_depth").Observed
	if !o.Collecting || !o.OK || o.LastError != "" || o.SeriesCount != 1 || o.LastRunAt.IsZero() || o.DaemonError != "" {
		t.Errorf("observed after a good run: %+v", o)
	}

	// Garbage: nothing of the run is served, the error quotes the line.
	writeFixture(t, input, "queue_depth_total 1\nthis is garbage\n", 0o644)
	_ = d.collect()
	if v, ok := d.served("queue_depth_total"); ok {
		t.Errorf("half of a garbage run served: queue_depth_total %v", v)
	}
	if o := status("queue_depth").Observed; o.OK || !strings.Contains(o.LastError, `line 2 "this is garbage"`) || o.SeriesCount != 0 {
		t.Errorf("observed after garbage: %+v", o)
	}

	var removed api.Removed
	if err := coretest.Call(t, methods, deps, api.CustomMetricKind.Remove().Name, api.ObjectName{Name: "queue_depth"}, &removed); err != nil || !removed.Existed {
		t.Fatalf("remove: %+v %v", removed, err)
	}
	writeFixture(t, input, "43\n", 0o644)
	_ = d.collect()
	if v, ok := d.served("steward_custom_queue_depth"); ok {
		t.Errorf("a removed command still served: %v", v)
	}
	if st := status("queue_depth"); st.Present {
		t.Errorf("status after remove: %+v", st)
	}
}

// TestLoadCommands_allOrNothing: the loader reads every spec file, cuts a
// timeout the interval has outgrown, and fails as a whole on a broken file
// (the monitor then keeps the commands it had), which the status of a
// command not yet running reports.
func TestLoadCommands_allOrNothing(t *testing.T) {
	t.Parallel()
	p, methods, input := customHost(t)
	writeFixture(t, p.AgentConfig(), `{"monitoring": {"interval": "2s"}}`, 0o600)
	dir := filepath.Join(p.ConfigDir, "custom_metrics")
	writeFixture(t, filepath.Join(dir, "slow.json"), `{"name": "slow", "command": ["/bin/cat", "`+input+`"], "timeout": "30s"}`, 0o600)
	writeFixture(t, filepath.Join(dir, "plain.json"), `{"name": "plain", "command": ["/bin/cat", "`+input+`"], "help": "Plain."}`, 0o600)
	writeFixture(t, filepath.Join(dir, ".tmp-plain.json-123"), "{half", 0o600)
	cmds, err := LoadCommands(p)()
	if err != nil {
		t.Fatal(err)
	}
	want := []collect.Command{
		{Name: "plain", Args: []string{"/bin/cat", input}, Timeout: 2 * time.Second, Help: "Plain."},
		{Name: "slow", Args: []string{"/bin/cat", input}, Timeout: 2 * time.Second},
	}
	if len(cmds) != len(want) {
		t.Fatalf("loaded %+v, want %+v", cmds, want)
	}
	for i := range want {
		if cmds[i].Name != want[i].Name || strings.Join(cmds[i].Args, " ") != strings.Join(want[i].Args, " ") || cmds[i].Timeout != want[i].Timeout || cmds[i].Help != want[i].Help {
			t.Errorf("command %d = %+v, want %+v", i, cmds[i], want[i])
		}
	}

	d := startDaemon(t, p)
	if err := d.collect(); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{
		"broken.json":   `{"name": "broken", "command": [`,
		"renamed.json":  `{"name": "other", "command": ["/bin/cat"]}`,
		"relative.json": `{"name": "relative", "command": ["cat"]}`,
	} {
		writeFixture(t, filepath.Join(dir, name), file, 0o600)
	}
	_, err = LoadCommands(p)()
	for _, want := range []string{"parse " + filepath.Join(dir, "broken.json"), `renamed.json: it names "other", not "renamed"`, `relative.json: command[0] "cat"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("loader error %v, want one containing %q", err, want)
		}
	}
	// A new command waits for the broken files; the running ones go on.
	writeFixture(t, filepath.Join(dir, "fresh.json"), `{"name": "fresh", "command": ["/bin/cat", "`+input+`"]}`, 0o600)
	if err := d.collect(); err == nil {
		t.Error("the monitor reloaded broken commands without an error")
	}
	if _, ok := d.served("steward_custom_plain"); !ok {
		t.Error("a broken spec file stopped the commands that ran")
	}
	var st customStatus
	if err := coretest.Call(t, methods, core.Deps{Paths: p}, api.CustomMetricKind.Status().Name, api.ObjectName{Name: "fresh"}, &st); err != nil {
		t.Fatal(err)
	}
	if o := st.Observed; o.Collecting || !strings.Contains(o.LastError, "the daemon cannot load the custom metrics: ") || !strings.Contains(o.LastError, "broken.json") {
		t.Errorf("status of a command waiting for broken files: %+v", o)
	}
}

// TestCollectors_socketOnly: the collector states quote what commands run
// as root print on standard error, so the daemon serves them on its root-only
// socket and refuses them on the network listener.
func TestCollectors_socketOnly(t *testing.T) {
	t.Parallel()
	p, _, _ := customHost(t)
	d := startDaemon(t, p)
	mux := http.NewServeMux()
	d.m.Routes(mux)
	tcp := httptest.NewServer(mux)
	t.Cleanup(tcp.Close)
	resp, err := http.Get(tcp.URL + collectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET %s over TCP = %s, want 403 Forbidden", collectorsPath, resp.Status)
	}
	states, err := daemonCollectors(context.Background(), p)
	if err != nil || len(states) == 0 {
		t.Errorf("collector states over the socket: %v, %v", states, err)
	}
}
