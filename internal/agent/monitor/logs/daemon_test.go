package logs

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// daemonHost is a fixture host with the log forwarding component running
// under a supervisor, as the daemon runs it, serving its route on the
// host's unix socket.
type daemonHost struct {
	t     *testing.T
	paths core.Paths
	d     *Daemon
	sup   *core.Supervisor
	stop  func()
}

func startDaemonHost(t *testing.T, paths core.Paths) *daemonHost {
	t.Helper()
	d := NewDaemon(core.Deps{Paths: paths, Logger: testLogger()})
	d.tune = func(c *Config) {
		short := testConfig(t, c.Spec, c.StateDir)
		short.Logger = c.Logger
		*c = short
	}
	sup, err := core.NewSupervisor([]core.Component{d}, testLogger(), time.Now, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := core.ListenSocket(paths)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	d.Routes(mux)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := sup.Start(ctx, nil)
	h := &daemonHost{t: t, paths: paths, d: d, sup: sup}
	var done bool
	h.stop = func() {
		if done {
			return
		}
		done = true
		cancel()
		<-stopped
		_ = srv.Close()
	}
	t.Cleanup(h.stop)
	return h
}

// configure writes spec as the lifecycle does and tells the component.
func (h *daemonHost) configure(spec api.LogForward) {
	h.t.Helper()
	if err := coretest.Call(h.t, methods(), core.Deps{Paths: h.paths}, api.LogForwardKind.Configure().Name, spec, nil); err != nil {
		h.t.Fatalf("configure: %v", err)
	}
	h.sup.ConfigChanged()
}

func (h *daemonHost) status(name string) (ForwarderState, bool) {
	states, err := DaemonStatus(context.Background(), h.paths)
	if err != nil {
		h.t.Fatalf("DaemonStatus: %v", err)
	}
	st, ok := states[name]
	return st, ok
}

// hostLogFile is a log file the forwarder reads at its path, in a directory
// that log_forward.configure's check finds under the fixture's root too.
func hostLogFile(t *testing.T, paths core.Paths) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(paths.Root, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "app.log")
}

func methods() map[string]core.Handler {
	m := map[string]core.Handler{}
	Register(m)
	return m
}

// TestDaemon_forwardsAcrossChangesAndRestarts: the component starts a
// forwarder for a spec written through log_forward.configure, restarts it
// on a change and resumes where it was, survives a daemon stop and start
// without losing a line, reports it through the socket and log_forward.status,
// and stops it and forgets its positions when the spec is removed.
func TestDaemon_forwardsAcrossChangesAndRestarts(t *testing.T) {
	rs := startRsyslog(t, "tcp", nil)
	paths := coretest.NewHost(t)
	logFile := hostLogFile(t, paths)
	appendLines(t, logFile, "app", 1, 100)
	spec := api.LogForward{Name: "app", Files: []api.LogFile{{Path: logFile, Tag: "app"}},
		Target: api.LogTarget{Address: rs.addr(), Protocol: api.LogProtocolTCP}, StartAt: api.LogStartBeginning}

	h := startDaemonHost(t, paths)
	h.configure(spec)
	waitDelivered(t, rs, 15*time.Second, span{"app", 1, 100})
	var obs api.ObjectStatus[api.LogForward, api.LogForwardObserved]
	if err := coretest.Call(t, methods(), core.Deps{Paths: paths}, api.LogForwardKind.Status().Name, api.ObjectName{Name: "app"}, &obs); err != nil {
		t.Fatalf("log_forward.status: %v", err)
	}
	if len(obs.Observed.Sources) != 1 || obs.Observed.Sources[0].Source != logFile || obs.Observed.Sources[0].LinesSent < 100 {
		t.Fatalf("log_forward.status observed %+v, want the file with 100 lines sent", obs.Observed)
	}

	// A change restarts the forwarder, which resumes at the saved offset.
	spec.Hostname = "renamed"
	h.configure(spec)
	waitFor(t, 10*time.Second, "the changed spec running", func() bool {
		st, ok := h.status("app")
		return ok && st.SpecSHA256 == core.Digest(api.RenderSpec(spec))
	})
	appendLines(t, logFile, "app", 101, 200)
	waitDelivered(t, rs, 15*time.Second, span{"app", 1, 200})

	// The daemon stops (positions saved) while lines keep coming; started
	// again it sends exactly what it had not.
	h.stop()
	appendLines(t, logFile, "app", 201, 300)
	h = startDaemonHost(t, paths)
	waitDelivered(t, rs, 15*time.Second, span{"app", 1, 300})

	// Removed: the forwarder stops and its positions go.
	if err := coretest.Call(t, methods(), core.Deps{Paths: paths}, api.LogForwardKind.Remove().Name, api.ObjectName{Name: "app"}, nil); err != nil {
		t.Fatalf("log_forward.remove: %v", err)
	}
	h.sup.ConfigChanged()
	stateDir := filepath.Join(paths.StateDir, api.LogForwardKind.Dir, "app")
	waitFor(t, 10*time.Second, "the forwarder stopped and its state removed", func() bool {
		_, running := h.status("app")
		_, err := os.Stat(stateDir)
		return !running && errors.Is(err, os.ErrNotExist)
	})
}

// TestDaemon_refusedSpecKeepsRunning: a spec file broken by hand is
// reported, and the forwarder started from the file before keeps running.
func TestDaemon_refusedSpecKeepsRunning(t *testing.T) {
	rs := startRsyslog(t, "tcp", nil)
	paths := coretest.NewHost(t)
	logFile := hostLogFile(t, paths)
	appendLines(t, logFile, "app", 1, 10)
	spec := api.LogForward{Name: "app", Files: []api.LogFile{{Path: logFile, Tag: "app"}},
		Target: api.LogTarget{Address: rs.addr(), Protocol: api.LogProtocolTCP}, StartAt: api.LogStartBeginning}
	h := startDaemonHost(t, paths)
	h.configure(spec)
	waitDelivered(t, rs, 15*time.Second, span{"app", 1, 10})
	file := paths.ObjectFile(api.LogForwardKind.Dir, "app")
	if err := os.WriteFile(file, []byte(`{"name": "app", "target": {"address": "nowhere", "protocol": "tcp"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h.sup.ConfigChanged()
	waitFor(t, 10*time.Second, "the broken spec reported", func() bool {
		st, _ := h.status("app")
		return st.Refused != "" && st.Observed != nil
	})
	appendLines(t, logFile, "app", 11, 20)
	waitDelivered(t, rs, 15*time.Second, span{"app", 1, 20})
	// log_forward.status says so at once, with the running forwarder's state.
	began := time.Now()
	var st api.ObjectStatus[api.LogForward, api.LogForwardObserved]
	if err := coretest.Call(t, methods(), core.Deps{Paths: paths}, api.LogForwardKind.Status().Name, api.ObjectName{Name: "app"}, &st); err != nil {
		t.Fatalf("log_forward.status: %v", err)
	}
	if o := st.Observed; !strings.HasPrefix(o.LastError, "the daemon runs an earlier spec: ") || len(o.Sources) != 1 || o.Sources[0].LinesSent < 20 {
		t.Errorf("status of the broken spec: %+v; want the earlier forwarder's sources and why the file is refused", o)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("log_forward.status took %s; want no wait for a spec the daemon refuses", d)
	}
}
