package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/audit"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup/schedule"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestBackupScheduler_seesRPCConfigureWithinOneSecond: a schedule written
// through rpc while the daemon runs is acted on within a second, not at the
// next poll of the configuration directory.
func TestBackupScheduler_seesRPCConfigureWithinOneSecond(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if err := os.MkdirAll(p.ConfigDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Two minutes ahead, a schedule that runs every minute is due as soon as it is seen.
	d := startTestDaemon(t, DaemonConfig{Paths: p, Now: clockAt(time.Now().Add(2 * time.Minute))})
	time.Sleep(100 * time.Millisecond) // the daemon's first look at the (empty) configuration is over

	cfg := testSchedule(t, p, "data", "* * * * *")
	req, err := api.NewRequest(api.BackupKind.Configure().Name, api.Operator{SSHUser: "deploy"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	called := time.Now()
	if err := Serve(context.Background(), bytes.NewReader(in), &out, core.Deps{Paths: p, Services: &fakeServices{}}); err != nil {
		t.Fatal(err)
	}
	var resp api.Response
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil || resp.Error != nil {
		t.Fatalf("backup.configure: %s (%v)", out.Bytes(), err)
	}
	answered := time.Now()

	read := d.logs.wait(t, "backup schedule read", "schedule", "data", 5*time.Second)
	started := d.logs.wait(t, "scheduled backup", "schedule", "data", 5*time.Second)
	if lag := started.Sub(called); lag > time.Second {
		t.Errorf("the scheduler started the new schedule %s after the rpc call began, want within 1s", lag)
	}
	t.Logf("rpc call %s; from its start, the scheduler read the schedule after %s and started its run after %s",
		answered.Sub(called), read.Sub(called), started.Sub(called))
	st := waitRunStatus(t, p, "data", 10*time.Second, func(st schedule.RunStatus) bool { return st.LastSnapshotID != "" })
	if st.LastError != "" {
		t.Errorf("the scheduled run failed: %s", st.LastError)
	}
}

// TestBackupScheduler_runsDueScheduleOnTime: the scheduler wakes for the
// next scheduled time instead of finding it at its next tick.
func TestBackupScheduler_runsDueScheduleOnTime(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if err := os.MkdirAll(p.ConfigDir, 0o700); err != nil {
		t.Fatal(err)
	}
	minute := time.Now().Truncate(time.Minute).Add(time.Hour)
	cfg := testSchedule(t, p, "data", "* * * * *")
	writeSchedule(t, p, cfg)
	if err := schedule.WriteRunStatus(p, "data", schedule.RunStatus{LastRunAt: minute.Add(-30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	// The clock shows 0.6 s before the next full minute; the schedule already ran in this one.
	d := startTestDaemon(t, DaemonConfig{Paths: p, Now: clockAt(minute.Add(-600 * time.Millisecond))})

	d.logs.wait(t, "scheduled backup", "schedule", "data", 3*time.Second)
	st := waitRunStatus(t, p, "data", 10*time.Second, func(st schedule.RunStatus) bool { return st.LastSnapshotID != "" })
	if st.LastRunAt.Before(minute) {
		t.Errorf("the run started at %s, before its scheduled time %s", st.LastRunAt, minute)
	}
	if late := st.LastRunAt.Sub(minute); late > time.Second {
		t.Errorf("the run started %s after its scheduled time, want within 1s", late)
	}
}

// TestBackupScheduler_unreadableScheduleIsUnhealthy: a schedule that cannot
// be read makes the scheduler's steward_component_up 0 within a second, and
// removing it makes it 1 again.
func TestBackupScheduler_unreadableScheduleIsUnhealthy(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if err := os.MkdirAll(schedule.ConfigDir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	d := startTestDaemon(t, DaemonConfig{Paths: p})
	up := `steward_component_up{component="backup_scheduler"}`
	d.waitMetric(t, up, time.Second, func(v float64) bool { return v == 1 })

	bad := schedule.ConfigFile(p, "broken")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.waitMetric(t, up, time.Second, func(v float64) bool { return v == 0 })
	d.waitMetric(t, `steward_component_last_error_timestamp_seconds{component="backup_scheduler"}`, time.Second,
		func(v float64) bool { return v > float64(time.Now().Add(-time.Minute).Unix()) })
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	d.waitMetric(t, up, time.Second, func(v float64) bool { return v == 1 })
}

// TestRunDaemon_shutdownInterruptsBackup: a backup still running when the
// grace period ends is cut short, and its run status and audit entry say
// that the daemon's shutdown interrupted it. The dump's shell leaves a child
// that holds its output open: stopping must not wait for that child.
func TestRunDaemon_shutdownInterruptsBackup(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	const grace = 300 * time.Millisecond
	d := startDumpingBackup(t, p, "sleep 30", grace)

	took := d.stop(t, 15*time.Second)
	if took < grace {
		t.Errorf("the daemon stopped after %s, before the grace period of %s", took, grace)
	}
	if took > grace+3*time.Second {
		t.Errorf("the daemon took %s to stop, want about the grace period of %s", took, grace)
	}
	st := schedule.ReadRunStatus(p, "data")
	t.Logf("stopped after %s; last_error: %s", took, st.LastError)
	if !strings.Contains(st.LastError, "interrupted by daemon shutdown") || st.LastRunAt.IsZero() || !st.LastSuccessAt.IsZero() {
		t.Errorf("run status after the cut: %+v, want last_error saying the shutdown interrupted it", st)
	}
	entry := lastAuditEntry(t, p, "backup/data", "run")
	if !strings.Contains(entry.Result, "interrupted by daemon shutdown") || entry.Operator.LocalUser != "steward-agent daemon" {
		t.Errorf("audit entry of the cut run: %+v", entry)
	}
	if h, err := ReadHeartbeat(p); err != nil || !h.Stopped {
		t.Errorf("heartbeat after stop: %+v, %v; want stopped", h, err)
	}
}

// TestRunDaemon_shutdownLetsBackupFinish: a backup running when the daemon
// is told to stop finishes within the grace period and succeeds, and a
// schedule that becomes due after the stop began is not started.
func TestRunDaemon_shutdownLetsBackupFinish(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	d := startDumpingBackup(t, p, "sleep 1; echo dumped", 20*time.Second)

	began := time.Now()
	d.cancel()
	writeSchedule(t, p, testSchedule(t, p, "late", "* * * * *")) // due at once, but the daemon is stopping
	d.stop(t, 15*time.Second)
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("the daemon took %s to stop after a one-second dump", took)
	}
	st := schedule.ReadRunStatus(p, "data")
	if st.LastError != "" || st.LastSnapshotID == "" || st.LastSuccessAt.IsZero() {
		t.Errorf("run status of the run that had time to finish: %+v", st)
	}
	if entry := lastAuditEntry(t, p, "backup/data", "run"); entry.Result != "ok" {
		t.Errorf("audit entry of the finished run: %+v", entry)
	}
	if st := schedule.ReadRunStatus(p, "late"); !st.LastRunAt.IsZero() {
		t.Errorf("a stopping daemon started a new backup: %+v", st)
	}
	if _, ok := d.logs.find("scheduled backup", "schedule", "late"); ok {
		t.Error("a stopping daemon started a new backup")
	}
}

// startDumpingBackup starts a daemon with the given shutdown grace and a
// schedule "data" that is due at once, and returns when that schedule's run
// has started its dump, a shell script.
func startDumpingBackup(t *testing.T, p core.Paths, script string, grace time.Duration) *testDaemon {
	t.Helper()
	if err := os.MkdirAll(p.ConfigDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := testSchedule(t, p, "data", "* * * * *")
	marker := filepath.Join(p.Root, "dump-started")
	cfg.Dumps = []api.BackupDump{{Name: "db", Command: []string{"sh", "-c", "touch " + marker + "; " + script}}}
	writeSchedule(t, p, cfg)
	d := startTestDaemon(t, DaemonConfig{Paths: p, Now: clockAt(time.Now().Add(2 * time.Minute)), ShutdownGrace: grace})
	waitFile(t, marker, 10*time.Second)
	return d
}

func waitRunStatus(t *testing.T, p core.Paths, name string, within time.Duration, ok func(schedule.RunStatus) bool) schedule.RunStatus {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := schedule.ReadRunStatus(p, name)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("run status of %s after %s: %+v", name, within, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFile(t *testing.T, path string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lastAuditEntry returns the last audit entry for object and action, after
// checking the log's chain.
func lastAuditEntry(t *testing.T, p core.Paths, object, action string) audit.Entry {
	t.Helper()
	if _, err := audit.Verify(p.AuditLog); err != nil {
		t.Fatalf("audit log: %v", err)
	}
	b, err := os.ReadFile(p.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	var last *audit.Entry
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if e.Object == object && e.Action == action {
			last = &e
		}
	}
	if last == nil {
		t.Fatalf("no audit entry for %s %s in %s", action, object, b)
	}
	return *last
}
