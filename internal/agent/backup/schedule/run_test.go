package schedule

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestRunBackup_drillFailureEmitsEvent: a corrupted archive is caught by the
// next restore drill, the run fails, and an event for the alerting side is
// written.
func TestRunBackup_drillFailureEmitsEvent(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	src := filepath.Join(p.Root, "srv/data")
	dest := filepath.Join(p.Root, "backups")
	for _, d := range []string{src, dest} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "f"), []byte(strings.Repeat("steward ", 4096)), 0o644); err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(p.Root, "passphrase")
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.BackupSchedule{Name: "data", Paths: []string{src}, Schedule: "@daily", Destination: api.BackupDestination{Path: dest},
		Recipients: []string{id.Recipient().String()}, PassphraseFile: pass, FullEvery: 7, VerifyEvery: "1h", Retention: api.BackupRetention{KeepLast: 5}}
	if err := os.MkdirAll(ConfigDir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ConfigFile(p, "data"), cfg.Render(), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 2, 30, 0, 0, time.UTC)
	deps := core.Deps{Paths: p, Now: func() time.Time { return now }}

	first, err := Run(context.Background(), deps, cfg, api.Operator{LocalUser: "test"})
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	st := ReadRunStatus(p, "data")
	if st.LastSnapshotID != first.Snapshot.ID || st.LastDrillAt.IsZero() || st.LastError != "" {
		t.Fatalf("status after a good run: %+v", st)
	}
	// Flip one byte in the middle of the first archive.
	arch := filepath.Join(dest, "data", first.Snapshot.ID+".tar.zst.age")
	b, err := os.ReadFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(arch, b, 0o600); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour) // the next drill is due
	if _, err := Run(context.Background(), deps, cfg, api.Operator{LocalUser: "test"}); err == nil {
		t.Fatal("a run whose chain holds a corrupted archive succeeded")
	}
	events, err := os.ReadFile(filepath.Join(p.StateDir, "events.jsonl"))
	if err != nil || !strings.Contains(string(events), `"kind":"backup_verification_failed"`) || !strings.Contains(string(events), `"schedule":"data"`) {
		t.Fatalf("no verification-failed event: %q (%v)", events, err)
	}
	if st := ReadRunStatus(p, "data"); st.LastError == "" || st.LastSnapshotID != first.Snapshot.ID {
		t.Errorf("status after the failed run: %+v", st)
	}
	want := `# HELP steward_backup_last_success_timestamp_seconds When the schedule's last backup succeeded (0: never).
# TYPE steward_backup_last_success_timestamp_seconds gauge
steward_backup_last_success_timestamp_seconds{schedule="data"} 1795660200
`
	if err := testutil.CollectAndCompare(NewScheduler(deps), strings.NewReader(want)); err != nil {
		t.Errorf("metrics: %v", err)
	}
}

// A schedule name becomes a file name under /etc/steward/backups: no
// method may accept one that climbs out of it.
func TestBackupMethods_refusePathNames(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if err := os.MkdirAll(ConfigDir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(p.ConfigDir, "agent.json")
	if err := os.WriteFile(victim, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deps := core.Deps{Paths: p}
	for _, name := range []string{"../agent", "..", "a/b", "", "UPPER", strings.Repeat("x", 64)} {
		for method, params := range map[string]any{
			api.BackupKind.Remove().Name:    api.BackupName{Name: name},
			api.BackupKind.Status().Name:    api.BackupName{Name: name},
			api.MethodBackupList:            api.BackupName{Name: name},
			api.MethodBackupRun:             api.BackupName{Name: name},
			api.BackupKind.Configure().Name: api.BackupSchedule{Name: name, Paths: []string{p.Root}, Schedule: "@daily"},
		} {
			err := call(t, deps, method, params)
			if e, ok := err.(*api.Error); !ok || e.Code != api.CodeBadRequest {
				t.Errorf("%s of schedule %q: %v, want bad_request", method, name, err)
			}
		}
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("a backup method reached %s: %v", victim, err)
	}
}

// TestBackupConfigure_refusesPathThroughSymlink: a path whose directory is
// a symlink is refused when the schedule is applied, naming the symlink;
// the walk would not follow it, since whoever may write the directory that
// holds it could point it at any tree on the host.
func TestBackupConfigure_refusesPathThroughSymlink(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	for _, d := range []string{"srv/real/data", "home/u"} {
		if err := os.MkdirAll(filepath.Join(p.Root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(p.Root, "srv/real"), filepath.Join(p.Root, "home/u/proj")); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	deps := core.Deps{Paths: p}
	cfg := api.BackupSchedule{Name: "data", Paths: []string{"/home/u/proj/data"}, Schedule: "@daily",
		Destination: api.BackupDestination{Path: filepath.Join(p.Root, "backups")}, Recipients: []string{id.Recipient().String()}}
	err = call(t, deps, api.BackupKind.Configure().Name, cfg)
	e, ok := err.(*api.Error)
	if !ok || e.Code != api.CodePathSymlink || !strings.Contains(e.Message, filepath.Join(p.Root, "home/u/proj")+" is a symbolic link") {
		t.Fatalf("configure a path through a symlink: %v, want %s naming home/u/proj", err, api.CodePathSymlink)
	}
	if _, err := os.Stat(ConfigFile(p, "data")); err == nil {
		t.Error("the refused schedule was written")
	}
	cfg.Paths = []string{"/srv/real/data", "/home/u/proj"} // a symlink as the last component is fine
	if err := call(t, deps, api.BackupKind.Configure().Name, cfg); err != nil {
		t.Fatalf("configure the real path: %v", err)
	}
}

// TestBackupConfigure_refusesUnsafeDestination: a destination another user
// owns is refused when the schedule is applied, naming it and the setting
// that allows it; marked shared, it is accepted.
func TestBackupConfigure_refusesUnsafeDestination(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the destination to another user")
	}
	p := coretest.NewHost(t)
	dest := filepath.Join(p.Root, "home/u/backups")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dest, 1001, 1001); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	deps := core.Deps{Paths: p}
	cfg := api.BackupSchedule{Name: "data", Paths: []string{"/home"}, Schedule: "@daily",
		Destination: api.BackupDestination{Path: dest}, Recipients: []string{id.Recipient().String()}}
	err = call(t, deps, api.BackupKind.Configure().Name, cfg)
	e, ok := err.(*api.Error)
	if !ok || e.Code != api.CodeDestinationUnsafe || !strings.Contains(e.Message, dest+" is owned by another user (owner uid 1001") ||
		!strings.Contains(e.Message, "destination_shared = true") {
		t.Fatalf("configure a destination uid 1001 owns: %v, want %s naming it and destination_shared", err, api.CodeDestinationUnsafe)
	}
	cfg.Destination.Shared = true
	if err := call(t, deps, api.BackupKind.Configure().Name, cfg); err != nil {
		t.Fatalf("configure the shared destination: %v", err)
	}
}

// call runs one of the backup methods as the provider would.
func call(t *testing.T, deps core.Deps, method string, params any) error {
	t.Helper()
	methods := map[string]core.Handler{}
	Register(methods)
	return coretest.Call(t, methods, deps, method, params, nil)
}
