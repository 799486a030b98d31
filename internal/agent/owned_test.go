package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestInstall_repairsChangesByHand: whatever was changed by hand on what a
// deployment owns, one install puts back, so one apply converges.
func TestInstall_repairsChangesByHand(t *testing.T) {
	t.Parallel()
	at := func(p core.Paths, hostPath string) string { return filepath.Join(p.Root, hostPath) }
	dropIn := func(p core.Paths, dir string) string {
		return filepath.Join(at(p, dir), api.UnitDropInDir, "override.conf")
	}
	cases := []struct {
		name   string
		change func(t *testing.T, p core.Paths)
		reload bool // the change needs systemd to re-read the unit and the agent to restart
	}{
		{name: "config directory opened", change: func(t *testing.T, p core.Paths) { chmod(t, p.ConfigDir, 0o755) }},
		{name: "lib directory world-writable", change: func(t *testing.T, p core.Paths) { chmod(t, p.LibDir, 0o777) }},
		{name: "state directory setgid", change: func(t *testing.T, p core.Paths) { chmod(t, p.StateDir, os.ModeSetgid|0o700) }},
		{name: "state directory deleted", change: func(t *testing.T, p core.Paths) {
			if err := os.RemoveAll(p.StateDir); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "audit directory opened", change: func(t *testing.T, p core.Paths) { chmod(t, filepath.Dir(p.AuditLog), 0o755) }},
		{name: "agent.json readable by all", change: func(t *testing.T, p core.Paths) { chmod(t, p.AgentConfig(), 0o644) }},
		{name: "agent.json given away", change: func(t *testing.T, p core.Paths) {
			if err := os.Chown(p.AgentConfig(), 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "agent.json replaced by a link to the same content", change: func(t *testing.T, p core.Paths) {
			elsewhere := filepath.Join(p.Root, "elsewhere.json")
			data, _ := os.ReadFile(p.AgentConfig())
			writeFile(t, elsewhere, string(data), 0o666)
			if err := os.Remove(p.AgentConfig()); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, p.AgentConfig()); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "unit made writable", change: func(t *testing.T, p core.Paths) { chmod(t, p.Unit(), 0o666) }},
		{name: "audit log deleted", change: func(t *testing.T, p core.Paths) {
			if err := os.Remove(p.AuditLog); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "drop-in in /etc", reload: true, change: func(t *testing.T, p core.Paths) {
			writeFile(t, dropIn(p, "/etc/systemd/system"), "[Service]\nExecStart=\nExecStart=/bin/sh -c evil\n", 0o644)
		}},
		{name: "runtime drop-in", reload: true, change: func(t *testing.T, p core.Paths) {
			writeFile(t, dropIn(p, "/run/systemd/system.control"), "[Service]\nMemoryMax=1\n", 0o644)
		}},
		{name: "unit file changed on disk since the last reload", reload: true, change: func(*testing.T, core.Paths) {}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := coretest.NewHost(t)
			svc := &fakeServices{}
			deps := core.Deps{Paths: p, Services: svc}
			bin := stageBinary(t, p, "steward-agent-1.0.0-aaaa", "v1")
			params := api.InstallParams{Binary: bin, Config: api.AgentConfig{HostID: coretest.MachineID, ListenAddress: api.DefaultListen, HeartbeatInterval: "10s"}}
			if err := call(t, deps, api.MethodInstall, params, nil); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, o := range api.OwnedPaths() {
				w := o.Want()
				w.UID, w.GID = os.Geteuid(), os.Getegid()
				want = append(want, fmt.Sprintf("%s: %s", o.Path, w))
			}
			if got := ownedState(t, p); !slices.Equal(got, want) {
				t.Fatalf("after the first install:\n%v\nwant\n%v", got, want)
			}
			config, _ := os.ReadFile(p.AgentConfig())

			tc.change(t, p)
			svc.calls, svc.stale = nil, tc.reload
			var res api.InstallResult
			if err := call(t, deps, api.MethodInstall, params, &res); err != nil {
				t.Fatal(err)
			}
			if got := ownedState(t, p); !slices.Equal(got, want) {
				t.Errorf("after the repair:\n%v\nwant\n%v", got, want)
			}
			if got, _ := os.ReadFile(p.AgentConfig()); string(got) != string(config) {
				t.Errorf("agent.json after the repair = %q, want %q", got, config)
			}
			if tc.reload && (!slices.Contains(svc.calls, "daemon-reload") || !res.Changed) {
				t.Errorf("systemd calls %v, changed %v; want a reload and a restart", svc.calls, res.Changed)
			}
			for _, dir := range api.UnitDirs {
				confs, _ := filepath.Glob(filepath.Join(at(p, dir), api.UnitDropInDir, "*"))
				for _, c := range confs {
					if filepath.Ext(c) == ".conf" {
						t.Errorf("drop-in %s still read by systemd", c)
					} else if b, _ := os.ReadFile(c); len(b) == 0 {
						t.Errorf("disabled drop-in %s lost its content", c)
					}
				}
			}
			// Repaired once: the next install finds nothing to do.
			svc.calls = nil
			if err := call(t, deps, api.MethodInstall, params, &res); err != nil {
				t.Fatal(err)
			}
			if res.Changed || !slices.Equal(svc.calls, []string{"enable"}) {
				t.Errorf("second install: changed %v, systemd calls %v", res.Changed, svc.calls)
			}
		})
	}
}

// TestInstall_refusesToReplaceADirectory: a directory Steward owns that is now
// something else is reported, not deleted.
func TestInstall_refusesToReplaceADirectory(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if err := os.Remove(p.StateDir); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p.StateDir, "not a directory", 0o600)
	bin := stageBinary(t, p, "steward-agent-1.0.0-aaaa", "v1")
	err := call(t, core.Deps{Paths: p, Services: &fakeServices{}}, api.MethodInstall, api.InstallParams{Binary: bin}, nil)
	if err == nil || !strings.Contains(err.Error(), p.StateDir) {
		t.Fatalf("install over a file at %s: %v, want an error naming it", p.StateDir, err)
	}
	if b, _ := os.ReadFile(p.StateDir); string(b) != "not a directory" {
		t.Errorf("%s was changed: %q", p.StateDir, b)
	}
}

// ownedState describes every path of api.OwnedPaths under p's root.
func ownedState(t *testing.T, p core.Paths) []string {
	t.Helper()
	var out []string
	for _, o := range api.OwnedPaths() {
		s, err := statPath(filepath.Join(p.Root, o.Path))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s: %s", o.Path, s))
	}
	return out
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
