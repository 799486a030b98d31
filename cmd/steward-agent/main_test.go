package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/audit"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

const testMachineID = "0123456789abcdef0123456789abcdef"

// testHost lays out a host root with a machine id, an uptime and a fresh
// daemon heartbeat.
func testHost(t *testing.T) core.Paths {
	t.Helper()
	p := core.PathsUnder(t.TempDir())
	beat, _ := json.Marshal(agent.Heartbeat{Time: time.Now().UTC(), IntervalMS: 10_000, Version: "dev"})
	for path, content := range map[string]string{
		p.MachineID:   testMachineID + "\n",
		p.Uptime:      "90061.5 1.0\n",
		p.Heartbeat(): string(beat),
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// runCLI runs one command line in-process and returns exit code, stdout and stderr.
func runCLI(t *testing.T, p core.Paths, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, p)
	return code, out.String(), errOut.String()
}

func TestRPC_endToEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		request  string
		wantCode string // Empty: a result is expected.
		wantMsg  string
	}{
		{name: "health", request: `{"protocol":2,"method":"health","operator":{"local_user":"ann","ssh_user":"deploy","key_fingerprint":"SHA256:abc"}}`},
		{name: "protocol mismatch", request: `{"protocol":3,"method":"health"}`, wantCode: api.CodeProtocolMismatch, wantMsg: "apply steward_host to upgrade the agent"},
		{name: "unknown method", request: `{"protocol":2,"method":"firewall.apply"}`, wantCode: api.CodeUnknownMethod, wantMsg: `"firewall.apply"`},
		{name: "bad json", request: `{"protocol":`, wantCode: api.CodeBadRequest, wantMsg: "decode request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, testHost(t), tt.request, "rpc")
			if code != exitOK {
				t.Fatalf("exit code %d, stderr %s", code, stderr)
			}
			var resp api.Response
			if err := json.Unmarshal([]byte(stdout), &resp); err != nil {
				t.Fatalf("stdout is not one api.Response: %v\n%s", err, stdout)
			}
			var health api.HealthResult
			err := resp.Decode(&health)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if health.HostID != testMachineID || health.Protocol != api.ProtocolVersion || health.AgentVersion != agent.Version ||
					health.UptimeSeconds != 90061 || !health.DaemonRunning || health.LastHeartbeat.IsZero() {
					t.Errorf("unexpected health result %+v", health)
				}
				return
			}
			if resp.Error == nil || resp.Error.Code != tt.wantCode || !strings.Contains(resp.Error.Message, tt.wantMsg) {
				t.Errorf("response error = %+v, want code %s with %q", resp.Error, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestCLI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		setup      func(t *testing.T, p core.Paths)
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "no command", args: nil, wantCode: exitUsage, wantStderr: []string{"usage:"}},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: exitUsage, wantStderr: []string{`unknown command "frobnicate"`}},
		{name: "help", args: []string{"--help"}, wantCode: exitOK, wantStdout: []string{"audit verify"}},
		{name: "version", args: []string{"version"}, wantCode: exitOK, wantStdout: []string{"steward-agent dev (protocol 2)"}},
		{name: "version with an argument", args: []string{"version", "extra"}, wantCode: exitUsage, wantStderr: []string{`unexpected argument "extra"`}},
		{name: "bad flag", args: []string{"status", "--nope"}, wantCode: exitUsage, wantStderr: []string{"nope"}},
		{name: "status", args: []string{"status"}, wantCode: exitOK, wantStdout: []string{"host id:         " + testMachineID, "daemon running:  yes", "host uptime:     25h1m1s"}},
		{name: "status json", args: []string{"status", "--json"}, wantCode: exitOK, wantStdout: []string{`"host_id": "` + testMachineID + `"`, `"daemon_running": true`}},
		{
			name: "status without machine id", args: []string{"status"},
			setup:    func(t *testing.T, p core.Paths) { must(t, os.Remove(p.MachineID)) },
			wantCode: exitFailure, wantStderr: []string{"steward-agent status: read host id from"},
		},
		{
			name: "status daemon never ran", args: []string{"status"},
			setup:    func(t *testing.T, p core.Paths) { must(t, os.Remove(p.Heartbeat())) },
			wantCode: exitOK, wantStdout: []string{"daemon running:  no", "last heartbeat:  never"},
		},
		{name: "audit without verb", args: []string{"audit"}, wantCode: exitUsage, wantStderr: []string{"audit verify"}},
		{
			name: "audit verify intact", args: []string{"audit", "verify"},
			setup:    func(t *testing.T, p core.Paths) { appendEntries(t, p.AuditLog, 3) },
			wantCode: exitOK, wantStdout: []string{"audit log OK: 3 lines"},
		},
		{
			name: "audit verify broken", args: []string{"audit", "verify"},
			setup: func(t *testing.T, p core.Paths) {
				appendEntries(t, p.AuditLog, 3)
				data, err := os.ReadFile(p.AuditLog)
				must(t, err)
				must(t, os.WriteFile(p.AuditLog, bytes.Replace(data, []byte("object-2"), []byte("object-X"), 1), 0o600))
			},
			wantCode: exitFailure, wantStderr: []string{"broken at line 3", "line 2 was edited"},
		},
		{
			name: "audit verify other file", args: []string{"audit", "verify", "--file", "FILE"},
			wantCode: exitOK, wantStdout: []string{"audit log OK: 2 lines"},
		},
		{name: "audit verify missing", args: []string{"audit", "verify"}, wantCode: exitFailure, wantStderr: []string{"no such file"}},
		{name: "daemon bad interval", args: []string{"daemon", "--heartbeat-interval", "0s"}, wantCode: exitUsage, wantStderr: []string{"must be positive"}},
		{name: "daemon bad grace", args: []string{"daemon", "--shutdown-grace", "0s"}, wantCode: exitUsage, wantStderr: []string{"--shutdown-grace must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := testHost(t)
			if tt.setup != nil {
				tt.setup(t, p)
			}
			args := append([]string(nil), tt.args...)
			for i, a := range args {
				if a == "FILE" {
					args[i] = filepath.Join(p.Root, "other.log")
					appendEntries(t, args[i], 2)
				}
			}
			code, stdout, stderr := runCLI(t, p, "", args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout, stderr)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout does not contain %q:\n%s", want, stdout)
				}
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr)
				}
			}
		})
	}
}

func appendEntries(t *testing.T, path string, n int) {
	t.Helper()
	for i := range n {
		must(t, audit.Append(path, audit.Entry{Object: "object-" + string(rune('1'+i)), Action: "create", Result: "ok"}))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDaemon_stopsWhenCancelled(t *testing.T) {
	t.Parallel()
	p := testHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"daemon", "--listen", "127.0.0.1:0", "--heartbeat-interval", "50ms"}, strings.NewReader(""), &out, &errOut, p)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr %s", code, errOut.String())
	}
	h, err := agent.ReadHeartbeat(p)
	if err != nil || !h.Stopped || h.IntervalMS != 50 {
		t.Errorf("heartbeat after a clean stop = %+v, %v; want stopped with interval 50ms", h, err)
	}
}

// TestMetrics_fromTheDaemon: `steward-agent metrics` prints the running
// daemon's collection, filtered by name, and `--range` its history.
func TestMetrics_fromTheDaemon(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if code, _, errOut := runCLI(t, p, "", "metrics", "node_load1"); code != exitFailure || !strings.Contains(errOut, "does not answer") {
		t.Fatalf("metrics with no daemon: exit %d, %q", code, errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.RunDaemon(ctx, agent.DaemonConfig{Paths: p, Listen: "127.0.0.1:0"}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunDaemon: %v", err)
		}
	})
	var out string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var code int
		code, out, _ = runCLI(t, p, "", "metrics", "node_load1")
		if code == exitOK && strings.Contains(out, "\nnode_load1 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics node_load1 after 10s: %q", out)
		}
	}
	if strings.Contains(out, "node_load5") {
		t.Errorf("metrics node_load1 printed other families: %q", out)
	}
	code, out, errOut := runCLI(t, p, "", "metrics", "--range", "1h", "node_load1")
	if code != exitOK || !strings.Contains(out, "SAMPLES") || !strings.Contains(out, "node_load1{}") {
		t.Errorf("metrics --range 1h node_load1: exit %d, %q, %q", code, out, errOut)
	}
}

// TestRulesTest: `steward-agent rules test FILE` runs the example's rule
// test and passes; an expectation that is not met fails it.
func TestRulesTest(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	example := filepath.Join("..", "..", "examples", "alerting", "root_disk_filling.test.yaml")
	code, out, errOut := runCLI(t, p, "", "rules", "test", example)
	if code != exitOK || !strings.Contains(out, "firing") {
		t.Fatalf("rules test %s: exit %d\n%s%s", example, code, out, errOut)
	}
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"root_disk_filling.json"} {
		rule, err := os.ReadFile(filepath.Join(filepath.Dir(example), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), rule, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wrong := filepath.Join(dir, "wrong.test.yaml")
	if err := os.WriteFile(wrong, []byte(strings.ReplaceAll(string(b), "state: firing", "state: pending")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCLI(t, p, "", "rules", "test", wrong); code != exitFailure {
		t.Fatalf("rules test with a wrong expectation: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, p, "", "rules"); code != exitUsage {
		t.Errorf("rules without test FILE: exit %d, want %d", code, exitUsage)
	}
}

// TestAlerts_fromTheDaemon: `steward-agent alerts` says when the daemon is
// down, and prints its alerts and history when it runs.
func TestAlerts_fromTheDaemon(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if code, _, errOut := runCLI(t, p, "", "alerts"); code != exitFailure || !strings.Contains(errOut, "does not answer") {
		t.Fatalf("alerts with no daemon: exit %d, %q", code, errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.RunDaemon(ctx, agent.DaemonConfig{Paths: p, Listen: "127.0.0.1:0"}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunDaemon: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, errOut := runCLI(t, p, "", "alerts", "--since", "1h")
		if code == exitOK && strings.Contains(out, "ALERT") && strings.Contains(out, "TRANSITION") && strings.Contains(out, "CHANNEL") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts: exit %d\n%s%s", code, out, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, _ := runCLI(t, p, "", "alerts", "--state", "burning"); code != exitUsage {
		t.Errorf("alerts --state burning: exit %d, want %d", code, exitUsage)
	}
}
