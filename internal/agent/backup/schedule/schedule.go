// Package schedule runs backup schedules on the host: the managed-object
// controller of steward_backup_schedule, the run (hooks, snapshot,
// read-back, restore drill, retention, run status, audit) and the daemon
// component that starts due runs. The snapshot engine it drives is package
// backup.
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// EventBackupVerificationFailed is emitted when a snapshot fails its
// read-back or restore drill; the snapshot is marked bad.
const EventBackupVerificationFailed = "backup_verification_failed"

// Register adds the backup methods to an agent's method registry: the
// schedule's lifecycle (configure, remove, status), a run now, and the
// catalog.
func Register(methods map[string]core.Handler) {
	methods[api.BackupRun.Name] = handleBackupRun
	methods[api.BackupCatalog.Name] = handleBackupList
	core.RegisterKind(methods, api.BackupKind, newBackupController)
}

// ConfigDir is where the schedules' spec files are.
func ConfigDir(p core.Paths) string { return filepath.Join(p.ConfigDir, api.BackupKind.Dir) }

// ConfigFile is the spec file of schedule name.
func ConfigFile(p core.Paths, name string) string { return p.ObjectFile(api.BackupKind.Dir, name) }

// StateDir holds the run status and lock of every schedule, and the
// engine's local cache.
func StateDir(p core.Paths) string { return filepath.Join(p.StateDir, "backups") }
func statusFile(p core.Paths, name string) string {
	return filepath.Join(StateDir(p), name+".status.json")
}
func lockFile(p core.Paths, name string) string { return filepath.Join(StateDir(p), name+".lock") }

// RunStatus is what the runs of one schedule leave behind.
type RunStatus struct {
	LastRunAt      time.Time `json:"last_run_at,omitzero"`
	LastSuccessAt  time.Time `json:"last_success_at,omitzero"`
	LastSnapshotID string    `json:"last_snapshot_id,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	LastVerifiedAt time.Time `json:"last_verified_at,omitzero"`
	LastDrillAt    time.Time `json:"last_drill_at,omitzero"`
}

// ReadRunStatus reads the run status of schedule name; a missing or
// damaged file reads as a schedule that never ran.
func ReadRunStatus(p core.Paths, name string) RunStatus {
	var st RunStatus
	if b, err := os.ReadFile(statusFile(p, name)); err == nil {
		_ = json.Unmarshal(b, &st) // a damaged status file counts as "never ran"
	}
	return st
}

// WriteRunStatus replaces the run status of schedule name.
func WriteRunStatus(p core.Paths, name string, st RunStatus) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(StateDir(p), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(statusFile(p, name), append(b, '\n'), 0o600)
}

// Load reads one schedule's configuration.
func Load(p core.Paths, name string) (api.BackupSchedule, []byte, error) {
	var cfg api.BackupSchedule
	raw, err := os.ReadFile(ConfigFile(p, name))
	if err != nil {
		return cfg, nil, err
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, raw, fmt.Errorf("parse %s: %w", ConfigFile(p, name), err)
	}
	return cfg, raw, nil
}

// OpenEngine returns the snapshot engine of a schedule, connected to
// its destination; close releases an SFTP connection.
func OpenEngine(ctx context.Context, p core.Paths, cfg api.BackupSchedule, log *slog.Logger) (eng *backup.Engine, closeFn func(), err error) {
	// One engine serves one request or one run: it reads the indexes once.
	eng = &backup.Engine{StateDir: StateDir(p), Logger: log, CacheIndexes: true}
	s := cfg.Destination.SFTP
	if s == nil {
		eng.Dest = backup.Dir{Path: cfg.Destination.Path, Shared: cfg.Destination.Shared}
		return eng, func() {}, nil
	}
	pool := client.NewPool()
	conn, err := pool.Get(ctx, client.Config{Hop: client.Hop{Host: s.Host, Port: s.Port, User: s.User,
		PrivateKeyFile: filepath.Join(p.Root, s.PrivateKeyFile), HostKey: s.HostKey}, Timeout: 30 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("connect to sftp destination %s@%s: %w", s.User, s.Host, err)
	}
	sc, err := conn.SFTP(ctx)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	eng.Dest = backup.SFTP{Client: sc, Path: s.Path}
	return eng, func() { _ = sc.Close(); pool.Close() }, nil
}

// engineConfig translates the stored schedule into the engine's terms.
func engineConfig(p core.Paths, cfg api.BackupSchedule) (backup.Config, error) {
	ec := backup.Config{Name: cfg.Name, Paths: append([]string{}, cfg.Paths...), Exclude: cfg.Exclude,
		Recipients: cfg.Recipients, PassphraseFile: cfg.PassphraseFile, FullEveryRuns: cfg.FullEvery}
	if cfg.Destination.SFTP == nil && cfg.Destination.Path == "" {
		return ec, errors.New("the schedule has no destination")
	}
	if cfg.IncludeStewardConfig {
		ec.Paths = append(ec.Paths, p.ConfigDir)
	}
	if cfg.FullMaxAge != "" {
		d, err := api.ParseDuration(cfg.FullMaxAge)
		if err != nil {
			return ec, fmt.Errorf("full_max_age: %w", err)
		}
		ec.FullEveryAge = d
	}
	for _, d := range cfg.Dumps {
		ec.Dumps = append(ec.Dumps, backup.Dump{Name: d.Name, Command: d.Command})
	}
	return ec, nil
}
