package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/logs"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestLogsStatus_fromTheDaemon: the daemon runs a forwarder for a spec
// file in /etc/steward/log_forward, and `steward-agent logs status` prints
// its sources with their positions (as a table and as JSON).
func TestLogsStatus_fromTheDaemon(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if code, _, errOut := runCLI(t, p, "", "logs", "status"); code != exitFailure || !strings.Contains(errOut, "does not answer") {
		t.Fatalf("logs status with no daemon: exit %d, %q", code, errOut)
	}
	if code, _, _ := runCLI(t, p, "", "logs"); code != exitUsage {
		t.Fatalf("logs without a subcommand: exit %d, want %d", code, exitUsage)
	}
	// A receiver that reads everything: its TCP acknowledges each line.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); _ = c.Close() }()
		}
	}()
	logFile := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(logFile, []byte("one\ntwo\nthree\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := api.LogForward{Name: "app", Files: []api.LogFile{{Path: logFile}}, StartAt: api.LogStartBeginning,
		Target: api.LogTarget{Address: ln.Addr().String(), Protocol: api.LogProtocolTCP}}
	dir := filepath.Join(p.ConfigDir, api.LogForwardKind.Dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.ObjectFile(api.LogForwardKind.Dir, "app"), api.RenderSpec(spec), 0o600); err != nil {
		t.Fatal(err)
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
	var states map[string]logs.ForwarderState
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, out, _ := runCLI(t, p, "", "logs", "status", "--json")
		states = nil
		if code == exitOK && json.Unmarshal([]byte(out), &states) == nil {
			if o := states["app"].Observed; o != nil && len(o.Sources) == 1 && o.Sources[0].LinesSent == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs status --json after 15s: %q", out)
		}
	}
	if src := states["app"].Observed.Sources[0]; src.Source != logFile || src.Offset != int64(len("one\ntwo\nthree\n")) {
		t.Errorf("source %+v: want %s acknowledged to its end", src, logFile)
	}
	code, out, errOut := runCLI(t, p, "", "logs", "status")
	if code != exitOK || !strings.Contains(out, "app  ") || !strings.Contains(out, logFile) || !strings.Contains(out, "offset 14") {
		t.Errorf("logs status: exit %d, %q, %q", code, out, errOut)
	}
}
