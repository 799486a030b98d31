package agent

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

func TestRunDaemon(t *testing.T) {
	t.Parallel()
	p := newTestHost(t)
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
	if resp.StatusCode != http.StatusOK || body.Status != "ok" || body.HostID != testMachineID || body.Version != Version {
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
	if h, err := Health(Deps{Paths: p}); err != nil || !h.DaemonRunning {
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
	if h, err := Health(Deps{Paths: p}); err != nil || h.DaemonRunning || h.LastHeartbeat.IsZero() {
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
	p := newTestHost(t)
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
	err = RunDaemon(context.Background(), DaemonConfig{Paths: newTestHost(t), Listen: ln.Addr().String()})
	if err == nil {
		t.Error("want an error for an address in use")
	}
	// A state directory that cannot be created.
	p := newTestHost(t)
	blocker := filepath.Join(p.Root, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p.StateDir = filepath.Join(blocker, "state")
	if err := RunDaemon(context.Background(), DaemonConfig{Paths: p, Listen: "127.0.0.1:0"}); err == nil {
		t.Error("want an error for an unwritable state directory")
	}
	if err := RunDaemon(context.Background(), DaemonConfig{Paths: newTestHost(t), Listen: "127.0.0.1:0", HeartbeatInterval: -time.Second}); err == nil {
		t.Error("want an error for a negative interval")
	}
}
