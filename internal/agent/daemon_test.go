package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

func TestRunDaemon(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- RunDaemon(ctx, DaemonConfig{
			Paths:             p,
			Listen:            "127.0.0.1:0",
			HeartbeatInterval: 20 * time.Millisecond,
			OnListen:          func(a net.Addr) { addrc <- a },
		})
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("daemon did not start within 5s")
	}

	// /healthz answers with the host's identity.
	resp, err := http.Get("http://" + addr.String() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	var body HealthzResponse
	err = json.NewDecoder(resp.Body).Decode(&body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("decode /healthz: %v", err)
	}
	if resp.StatusCode != http.StatusOK || body.Status != "ok" || body.HostID != coretest.MachineID || body.Version != Version {
		t.Errorf("/healthz = %d %+v", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}

	// The heartbeat keeps moving, and health sees a running daemon.
	first, err := ReadHeartbeat(p)
	if err != nil || first.Time.IsZero() {
		t.Fatalf("first heartbeat: %+v, %v", first, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		h, err := ReadHeartbeat(p)
		if err != nil {
			t.Fatalf("read heartbeat: %v", err)
		}
		if h.Time.After(first.Time) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("heartbeat not rewritten within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if h, err := Health(core.Deps{Paths: p}); err != nil || !h.DaemonRunning {
		t.Errorf("Health while daemon runs = %+v, %v; want daemon running", h, err)
	}

	// Cancelling stops it cleanly, and health sees it stopped at once.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunDaemon after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("daemon did not stop within 5s")
	}
	if h, err := Health(core.Deps{Paths: p}); err != nil || h.DaemonRunning || h.LastHeartbeat.IsZero() {
		t.Errorf("Health after stop = %+v, %v; want stopped with a last heartbeat", h, err)
	}
	if _, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		t.Error("the /healthz port still accepts connections after stop")
	}
	leftovers, _ := filepath.Glob(filepath.Join(p.StateDir, atomicfile.TempPrefix+"heartbeat-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary heartbeat files left behind: %v", leftovers)
	}
}

func TestHealthz_failing(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if err := os.Remove(p.MachineID); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cfg: DaemonConfig{Paths: p}}
	srv := http.NewServeMux()
	srv.HandleFunc("/healthz", d.serveHealthz)
	for _, tt := range []struct {
		method string
		want   int
	}{
		{method: http.MethodGet, want: http.StatusServiceUnavailable},
		{method: http.MethodPost, want: http.StatusMethodNotAllowed},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(tt.method, "/healthz", nil)
		srv.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("%s /healthz = %d, want %d (%s)", tt.method, rec.Code, tt.want, rec.Body)
		}
		if tt.method != http.MethodGet {
			continue
		}
		var body HealthzResponse
		if err := json.NewDecoder(rec.Body).Decode(&body); err != nil {
			t.Fatalf("decode /healthz: %v", err)
		}
		if body.Status != "failing" || !strings.Contains(body.Error, "machine-id") {
			t.Errorf("/healthz body = %+v, want failing with the machine-id error", body)
		}
	}
}

func TestRunDaemon_startFailures(t *testing.T) {
	t.Parallel()
	// An address already in use.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	err = RunDaemon(context.Background(), DaemonConfig{Paths: coretest.NewHost(t), Listen: ln.Addr().String()})
	if err == nil {
		t.Error("want an error for an address in use")
	}
	// A state directory that cannot be created.
	p := coretest.NewHost(t)
	blocker := filepath.Join(p.Root, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p.StateDir = filepath.Join(blocker, "state")
	if err := RunDaemon(context.Background(), DaemonConfig{Paths: p, Listen: "127.0.0.1:0"}); err == nil {
		t.Error("want an error for an unwritable state directory")
	}
	if err := RunDaemon(context.Background(), DaemonConfig{Paths: coretest.NewHost(t), Listen: "127.0.0.1:0", HeartbeatInterval: -time.Second}); err == nil {
		t.Error("want an error for a negative interval")
	}
}

// TestRunDaemon_loopbackOnly: the daemon's endpoints have no TLS or
// authentication, so an agent.json written by hand that asks for a network
// address is refused instead of exposing /healthz and /metrics.
func TestRunDaemon_loopbackOnly(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0", "10.213.7.1:0", "example.com:0"} {
		t.Run(listen, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			var bound net.Addr
			err := RunDaemon(ctx, DaemonConfig{Paths: coretest.NewHost(t), Listen: listen, Components: []core.Component{},
				OnListen: func(a net.Addr) { bound = a }})
			if bound != nil {
				t.Errorf("the daemon listened on %s", bound)
			}
			if err == nil || !strings.Contains(err.Error(), "not a loopback address") || !strings.Contains(err.Error(), "127.0.0.0/8") {
				t.Errorf("RunDaemon on %s = %v, want an error saying only loopback addresses are accepted", listen, err)
			}
		})
	}
	for _, listen := range []string{"127.0.0.1:0", "127.0.0.53:0", "[::1]:0", "localhost:0"} {
		t.Run(listen, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var bound net.Addr
			err := RunDaemon(ctx, DaemonConfig{Paths: coretest.NewHost(t), Listen: listen, Components: []core.Component{},
				OnListen: func(a net.Addr) { bound = a; cancel() }})
			if err != nil && strings.Contains(err.Error(), "loopback") {
				t.Errorf("RunDaemon on %s refused a loopback address: %v", listen, err)
			}
			if err == nil && bound == nil {
				t.Errorf("RunDaemon on %s returned without listening", listen)
			}
		})
	}
}

// TestRunDaemon_idleConnectionsClosed: a client that opens a connection and
// then goes quiet does not hold it (and a goroutine of the root daemon) forever.
func TestRunDaemon_idleConnectionsClosed(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	p := coretest.NewHost(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = RunDaemon(ctx, DaemonConfig{Paths: p, Listen: "127.0.0.1:0", Components: []core.Component{},
			OnListen: func(a net.Addr) { addrc <- a },
			timeouts: httpTimeouts{readHeader: 300 * time.Millisecond, read: 300 * time.Millisecond, write: time.Second, idle: 300 * time.Millisecond}})
	}()
	// The daemon's last heartbeat must be written before the host is removed.
	defer func() { cancel(); <-done }()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case <-time.After(5 * time.Second):
		t.Fatal("daemon did not start within 5s")
	}
	for _, tc := range []struct {
		name, send string
	}{
		{name: "idle after a request", send: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "body never sent", send: "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"},
		{name: "headers never finished", send: "GET /healthz HTTP/1.1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			if _, err := c.Write([]byte(tc.send)); err != nil {
				t.Fatal(err)
			}
			// Read whatever the server answers until it closes the connection.
			start := time.Now()
			_ = c.SetReadDeadline(start.Add(3 * time.Second))
			buf := make([]byte, 4096)
			for {
				_, err := c.Read(buf)
				if err == nil {
					continue
				}
				if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("the daemon kept the quiet connection open for %s", time.Since(start).Round(time.Millisecond))
				}
				break // closed by the server
			}
		})
	}
}

// routedComponent serves one route of its own and gathers one metric.
type routedComponent struct{ fakeComponent }

func (routedComponent) Routes(mux *http.ServeMux) {
	mux.HandleFunc("/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) })
}

func (routedComponent) Gather() ([]*dto.MetricFamily, error) {
	name, help, v := "steward_test_gathered", "A gathered metric.", 42.0
	return []*dto.MetricFamily{{Name: &name, Help: &help, Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}}, nil
}

// TestRunDaemon_socketAndRoutes: a component's routes and gathered metrics
// are served on the listener and on the root-only unix socket, which is
// gone once the daemon stops.
func TestRunDaemon_socketAndRoutes(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	c := &routedComponent{fakeComponent{name: "routed", run: func(ctx context.Context, _ *core.Runtime) error { <-ctx.Done(); return nil }}}
	d := startTestDaemon(t, DaemonConfig{Paths: p, Components: []core.Component{c}})
	fi, err := os.Stat(p.Socket)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v, %v; want a socket with mode 0600", p.Socket, fi.Mode(), err)
	}
	for _, base := range []struct {
		name   string
		client *http.Client
		url    string
	}{{"listener", http.DefaultClient, "http://" + d.addr}, {"socket", core.DaemonClient(p), core.DaemonURL}} {
		resp, err := base.client.Get(base.url + "/hello")
		if err != nil {
			t.Fatalf("GET /hello on the %s: %v", base.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if string(b) != "hello" {
			t.Errorf("GET /hello on the %s = %q", base.name, b)
		}
	}
	if v, ok := sampleValue(d.metrics(t), "steward_test_gathered"); !ok || v != 42 {
		t.Errorf("the gathered metric on /metrics: %v %v", v, ok)
	}
	d.stop(t, 5*time.Second)
	if _, err := os.Stat(p.Socket); !os.IsNotExist(err) {
		t.Errorf("the socket outlived the daemon: %v", err)
	}
}

// TestMetricsQuery_throughTheDaemon: rpc's metrics.query is answered by the
// running daemon's history over its socket; with no daemon it says so.
func TestMetricsQuery_throughTheDaemon(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	params := api.MetricsQueryParams{Window: "1h", Select: map[string]api.MetricSelector{"load": {Name: "node_load1"}}}
	query := func() (api.MetricsQueryResult, *api.Error) {
		req, err := api.NewRequest(api.MetricsQuery.Name, api.Operator{SSHUser: "deploy"}, params)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := json.Marshal(req)
		var out bytes.Buffer
		if err := Serve(context.Background(), bytes.NewReader(in), &out, core.Deps{Paths: p}); err != nil {
			t.Fatal(err)
		}
		var resp api.Response
		if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		var res api.MetricsQueryResult
		if resp.Error == nil {
			if err := json.Unmarshal(resp.Result, &res); err != nil {
				t.Fatal(err)
			}
		}
		return res, resp.Error
	}
	if _, e := query(); e == nil || e.Code != api.CodeDaemonUnavailable {
		t.Fatalf("metrics.query with no daemon: %v, want %s", e, api.CodeDaemonUnavailable)
	}
	d := startTestDaemon(t, DaemonConfig{Paths: p})
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, e := query()
		if e != nil {
			t.Fatalf("metrics.query: %v", e)
		}
		if l := res.Results["load"]; len(l) == 1 && l[0].Samples >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no node_load1 in the history after 10s: %+v", res)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.stop(t, 10*time.Second)
}
