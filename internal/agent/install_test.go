package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/audit"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// fakeServices records what the deployment asked of systemd.
type fakeServices struct {
	calls   []string
	enabled bool
	active  bool
	stale   bool // the unit's files changed since the last reload
}

func (f *fakeServices) DaemonReload(context.Context) error {
	f.calls = append(f.calls, "daemon-reload")
	f.stale = false
	return nil
}
func (f *fakeServices) NeedsReload(context.Context, string) bool { return f.stale }
func (f *fakeServices) Enable(_ context.Context, u string) (bool, error) {
	f.calls = append(f.calls, "enable")
	was := f.enabled
	f.enabled = true
	return !was, nil
}
func (f *fakeServices) Restart(context.Context, string) error {
	f.calls = append(f.calls, "restart")
	f.active = true
	return nil
}
func (f *fakeServices) IsActive(context.Context, string) bool { return f.active }
func (f *fakeServices) DisableNow(context.Context, string) error {
	f.calls = append(f.calls, "disable-now")
	f.enabled, f.active = false, false
	return nil
}

func stageBinary(t *testing.T, p core.Paths, name, content string) string {
	t.Helper()
	if err := os.MkdirAll(p.LibDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(p.LibDir, name)
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func call(t *testing.T, deps core.Deps, method string, params any, result any) error {
	t.Helper()
	h := DefaultMethods()[method]
	req, err := api.NewRequest(method, api.Operator{SSHUser: "deploy", LocalUser: "ops"}, params)
	if err != nil {
		t.Fatal(err)
	}
	res, err := h(context.Background(), deps, req)
	if err == nil && result != nil {
		var ok bool
		switch r := result.(type) {
		case *api.InstallResult:
			*r, ok = res.(api.InstallResult)
		case *api.RollbackResult:
			*r, ok = res.(api.RollbackResult)
		}
		if !ok {
			t.Fatalf("%s returned %T", method, res)
		}
	}
	return err
}

func TestInstallUpgradeRollbackUninstall(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	svc := &fakeServices{}
	deps := core.Deps{Paths: p, Services: svc}
	cfg := api.AgentConfig{HostID: coretest.MachineID, ListenAddress: "127.0.0.1:9276", HeartbeatInterval: "10s"}
	v1 := stageBinary(t, p, "steward-agent-1.0.0-aaaa", "v1")

	var res api.InstallResult
	if err := call(t, deps, api.MethodInstall, api.InstallParams{Binary: v1, Config: cfg}, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Previous != "" {
		t.Errorf("fresh install: %+v", res)
	}
	if got, _ := os.Readlink(filepath.Join(p.LibDir, "current")); got != v1 {
		t.Errorf("current -> %q, want %q", got, v1)
	}
	for path, mode := range map[string]os.FileMode{p.ConfigDir: 0o700 | os.ModeDir, p.AgentConfig(): 0o600, p.Unit(): 0o644} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode() != mode {
			t.Errorf("%s: mode %v, err %v; want %v", path, fi.Mode(), err, mode)
		}
	}
	if b, _ := os.ReadFile(p.AgentConfig()); string(b) != string(cfg.Render()) {
		t.Errorf("agent.json = %q, want %q", b, cfg.Render())
	}
	if !slices.Equal(svc.calls, []string{"daemon-reload", "enable", "restart"}) {
		t.Errorf("systemd calls %v", svc.calls)
	}

	// The same install again changes nothing.
	svc.calls = nil
	if err := call(t, deps, api.MethodInstall, api.InstallParams{Binary: v1, Config: cfg}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Changed || !slices.Equal(svc.calls, []string{"enable"}) {
		t.Errorf("idempotent install changed something: %+v, calls %v", res, svc.calls)
	}

	// Upgrade with a new setting: the old binary and config are kept.
	v2 := stageBinary(t, p, "steward-agent-2.0.0-bbbb", "v2")
	cfg2 := cfg
	cfg2.HeartbeatInterval = "5s"
	if err := call(t, deps, api.MethodInstall, api.InstallParams{Binary: v2, Config: cfg2}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Previous != v1 {
		t.Errorf("upgrade: previous = %q, want %q", res.Previous, v1)
	}
	if got, _ := os.Readlink(filepath.Join(p.LibDir, "previous")); got != v1 {
		t.Errorf("previous -> %q", got)
	}

	// Rollback restores binary and configuration.
	var rb api.RollbackResult
	if err := call(t, deps, api.MethodRollback, api.RollbackParams{Reason: "test"}, &rb); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(p.LibDir, "current")); got != v1 || rb.Restored != v1 {
		t.Errorf("after rollback current -> %q (restored %q), want %q", got, rb.Restored, v1)
	}
	if b, _ := os.ReadFile(p.AgentConfig()); string(b) != string(cfg.Render()) {
		t.Errorf("config after rollback = %q", b)
	}

	// Uninstall keeps state and the audit log.
	if err := call(t, deps, api.MethodUninstall, api.UninstallParams{}, nil); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{p.LibDir, p.ConfigDir, p.Unit()} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s still there after uninstall", gone)
		}
	}
	n, err := audit.Verify(p.AuditLog)
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	// install, config, unit, restart; upgrade, config, restart; rollback; remove.
	if n != 9 {
		t.Errorf("audit log has %d lines, want 9", n)
	}
}

func TestInstall_rejectsBinaryOutsideLibDir(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	for _, bin := range []string{"/bin/sh", filepath.Join(p.LibDir, "../evil/steward-agent-x"), filepath.Join(p.LibDir, "other")} {
		err := call(t, core.Deps{Paths: p, Services: &fakeServices{}}, api.MethodInstall, api.InstallParams{Binary: bin}, nil)
		if e, ok := err.(*api.Error); !ok || e.Code != api.CodeBadRequest {
			t.Errorf("install of %s: %v, want bad_request", bin, err)
		}
	}
}

// TestInstall_rejectsNetworkListenAddress: a configuration that would expose
// the daemon to the network is refused before anything on the host changes.
func TestInstall_rejectsNetworkListenAddress(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	svc := &fakeServices{}
	bin := stageBinary(t, p, "steward-agent-1.0.0-aaaa", "v1")
	cfg := api.AgentConfig{HostID: coretest.MachineID, ListenAddress: "0.0.0.0:9276", HeartbeatInterval: "10s"}
	err := call(t, core.Deps{Paths: p, Services: svc}, api.MethodInstall, api.InstallParams{Binary: bin, Config: cfg}, nil)
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodeBadRequest || !strings.Contains(e.Message, "not a loopback address") {
		t.Errorf("install with listen_address 0.0.0.0:9276: %v, want bad_request naming the loopback rule", err)
	}
	if _, err := os.Lstat(filepath.Join(p.LibDir, "current")); !errors.Is(err, os.ErrNotExist) || len(svc.calls) != 0 {
		t.Errorf("the refused install changed the host: current link %v, systemd calls %v", err, svc.calls)
	}
}

func TestParseDpkgStatus(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"ii |2.10-3":     "2.10-3",
		"ii  |1:2.0~rc1": "1:2.0~rc1",
		"rc |2.10-3":     "",
		"un |":           "",
		"":               "",
		"dpkg-query: no": "",
	}
	for in, want := range cases {
		if got := parseDpkgStatus(in); got != want {
			t.Errorf("parseDpkgStatus(%q) = %q, want %q", in, got, want)
		}
	}
	if !hasCandidate("hello:\n  Installed: (none)\n  Candidate: 2.10-3\n") || hasCandidate("nope:\n  Installed: (none)\n  Candidate: (none)\n") || hasCandidate("") {
		t.Error("hasCandidate misreads apt-cache policy")
	}
}
