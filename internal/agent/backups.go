package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
	"github.com/stewardhq/terraform-provider-steward/internal/cron"
)

// Backup schedules: the configuration the provider writes, the state the
// runs leave, and the run itself (hooks, snapshot, verification, retention).

func (p Paths) backupConfigDir() string { return filepath.Join(p.ConfigDir, api.BackupKind.Dir) }
func (p Paths) backupConfig(name string) string {
	return p.objectFile(api.BackupKind.Dir, name)
}
func (p Paths) backupStateDir() string { return filepath.Join(p.StateDir, "backups") }
func (p Paths) backupStatus(name string) string {
	return filepath.Join(p.backupStateDir(), name+".status.json")
}
func (p Paths) backupLock(name string) string { return filepath.Join(p.backupStateDir(), name+".lock") }

// backupRunStatus is what the runs of one schedule leave behind.
type backupRunStatus struct {
	LastRunAt      time.Time `json:"last_run_at,omitzero"`
	LastSuccessAt  time.Time `json:"last_success_at,omitzero"`
	LastSnapshotID string    `json:"last_snapshot_id,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	LastVerifiedAt time.Time `json:"last_verified_at,omitzero"`
	LastDrillAt    time.Time `json:"last_drill_at,omitzero"`
}

func readRunStatus(p Paths, name string) backupRunStatus {
	var st backupRunStatus
	if b, err := os.ReadFile(p.backupStatus(name)); err == nil {
		_ = json.Unmarshal(b, &st) // a damaged status file counts as "never ran"
	}
	return st
}

func writeRunStatus(p Paths, name string, st backupRunStatus) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.backupStateDir(), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(p.backupStatus(name), append(b, '\n'), 0o600)
}

// LoadBackupSchedule reads one schedule's configuration.
func LoadBackupSchedule(p Paths, name string) (api.BackupSchedule, []byte, error) {
	var cfg api.BackupSchedule
	raw, err := os.ReadFile(p.backupConfig(name))
	if err != nil {
		return cfg, nil, err
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, raw, fmt.Errorf("parse %s: %w", p.backupConfig(name), err)
	}
	return cfg, raw, nil
}

// OpenBackupEngine returns the snapshot engine of a schedule, connected to
// its destination; close releases an SFTP connection.
func OpenBackupEngine(ctx context.Context, p Paths, cfg api.BackupSchedule, log *slog.Logger) (eng *backup.Engine, closeFn func(), err error) {
	// One engine serves one request or one run: it reads the indexes once.
	eng = &backup.Engine{StateDir: p.backupStateDir(), Logger: log, CacheIndexes: true}
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
func engineConfig(p Paths, cfg api.BackupSchedule) (backup.Config, error) {
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

// backupController is the managed-object controller of backup schedules:
// the daemon's scheduler reads the spec files, so applying one only checks
// it, and removing one leaves its snapshots at the destination.
type backupController struct{ deps Deps }

func newBackupController(deps Deps) Controller[api.BackupSchedule, api.BackupObserved] {
	return backupController{deps: deps}
}

// Check refuses a schedule that cannot run: a bad cron expression, a path
// that does not exist.
func (c backupController) Check(_ context.Context, cfg api.BackupSchedule) error {
	if _, err := cron.Parse(cfg.Schedule); err != nil {
		return badRequest("%v", err)
	}
	var missing, symlinked []string
	for _, path := range cfg.Paths {
		err := backup.CheckSourcePath(filepath.Join(c.deps.Paths.Root, path))
		switch {
		case errors.Is(err, backup.ErrSymlinkInPath):
			symlinked = append(symlinked, err.Error())
		case err != nil:
			missing = append(missing, path)
		}
	}
	if len(missing) > 0 {
		return &api.Error{Code: api.CodePathMissing, Message: "these paths do not exist: " + strings.Join(missing, ", ")}
	}
	if len(symlinked) > 0 {
		return &api.Error{Code: api.CodePathSymlink, Message: strings.Join(symlinked, "; ")}
	}
	if cfg.Destination.SFTP == nil && cfg.Destination.Path != "" {
		err := backup.Dir{Path: cfg.Destination.Path, Shared: cfg.Destination.Shared}.Check()
		switch {
		case errors.Is(err, backup.ErrUnsafeDestination), errors.Is(err, backup.ErrSymlinkInPath):
			return &api.Error{Code: api.CodeDestinationUnsafe, Message: err.Error()}
		case err != nil:
			return fmt.Errorf("check destination: %w", err)
		}
	}
	return nil
}

// Apply has nothing to do beyond the spec file, which the scheduler reads.
func (c backupController) Apply(context.Context, api.BackupSchedule, *api.BackupSchedule) (Applied, error) {
	return Applied{}, nil
}

// Remove keeps the snapshots: removing a schedule never deletes backups.
func (c backupController) Remove(context.Context, api.BackupSchedule) error { return nil }

// Observe reports the runs' results and the catalog at the destination. A
// failure to reach the destination is reported in LastError, not as an
// error: the schedule itself is there.
func (c backupController) Observe(ctx context.Context, cfg api.BackupSchedule) (api.BackupObserved, error) {
	p := c.deps.Paths
	run := readRunStatus(p, cfg.Name)
	o := api.BackupObserved{LastSuccessAt: run.LastSuccessAt, LastSnapshotID: run.LastSnapshotID,
		LastVerifiedAt: run.LastVerifiedAt, LastError: run.LastError}
	fail := func(what string, err error) {
		if o.LastError == "" {
			o.LastError = what + ": " + err.Error()
		}
	}
	eng, closeEng, err := OpenBackupEngine(ctx, p, cfg, c.deps.Logger)
	if err != nil {
		fail("open destination", err)
		return o, nil
	}
	defer closeEng()
	if snaps, err := eng.List(ctx, cfg.Name); err == nil {
		o.SnapshotCount = len(snaps)
		o.LastSnapshotMissing = run.LastSnapshotID != "" &&
			!slices.ContainsFunc(snaps, func(s backup.Snapshot) bool { return s.ID == run.LastSnapshotID })
	} else {
		fail("list snapshots", err)
	}
	if ec, err := engineConfig(p, cfg); err == nil {
		if o.NextSnapshotKind, err = eng.NextKind(ctx, ec); err != nil {
			fail("next snapshot", err)
		}
	}
	return o, nil
}

func handleBackupList(ctx context.Context, deps Deps, req api.Request) (any, error) {
	var n api.BackupName
	if err := DecodeParams(req, &n); err != nil {
		return nil, err
	}
	deps = deps.withDefaults()
	cfg, err := existingSchedule(deps.Paths, n.Name)
	if err != nil {
		return nil, err
	}
	eng, closeEng, err := OpenBackupEngine(ctx, deps.Paths, cfg, deps.Logger)
	if err != nil {
		return nil, err
	}
	defer closeEng()
	snaps, err := eng.List(ctx, n.Name)
	if err != nil {
		return nil, err
	}
	hostID, err := ReadHostID(deps.Paths)
	if err != nil {
		return nil, err
	}
	out := api.BackupList{HostID: hostID, Snapshots: []api.BackupSnapshot{}}
	for _, s := range snaps {
		out.Snapshots = append(out.Snapshots, apiSnapshot(s))
	}
	return out, nil
}

func apiSnapshot(s backup.Snapshot) api.BackupSnapshot {
	fps := make([]string, 0, len(s.Recipients))
	for _, k := range s.Recipients {
		fps = append(fps, api.RecipientFingerprint(k))
	}
	return api.BackupSnapshot{ID: s.ID, Time: s.Time, Kind: s.Kind, Parent: s.Parent, Bytes: s.Bytes,
		Files: int64(s.Files), Partial: s.Partial, Verified: s.Verified, Notes: s.Notes, RecipientFingerprints: fps}
}

// existingSchedule loads a schedule, reporting a missing one as not_found.
func existingSchedule(p Paths, name string) (api.BackupSchedule, error) {
	cfg, _, err := LoadBackupSchedule(p, name)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, &api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf("no backup schedule %q on this host", name)}
	}
	return cfg, err
}

func handleBackupRun(ctx context.Context, deps Deps, req api.Request) (any, error) {
	var n api.BackupName
	if err := DecodeParams(req, &n); err != nil {
		return nil, err
	}
	deps = deps.withDefaults()
	cfg, err := existingSchedule(deps.Paths, n.Name)
	if err != nil {
		return nil, err
	}
	return RunBackup(ctx, deps, cfg, req.Operator)
}

// errBackupRunning means another run of the same schedule holds its lock.
var errBackupRunning = errors.New("a run of this schedule is already in progress")

// RunBackup runs one backup of cfg: pre hooks, the snapshot, a read-back of
// its archive digest, a restore drill when one is due and the host holds an
// identity, post hooks, then retention. Runs of one schedule never overlap.
func RunBackup(ctx context.Context, deps Deps, cfg api.BackupSchedule, op api.Operator) (api.BackupRunResult, error) {
	deps = deps.withDefaults()
	p, log := deps.Paths, deps.Logger
	var res api.BackupRunResult
	if err := os.MkdirAll(p.backupStateDir(), 0o700); err != nil {
		return res, err
	}
	unlock, err := lockExclusive(p.backupLock(cfg.Name))
	if err != nil {
		return res, err
	}
	defer unlock()

	st := readRunStatus(p, cfg.Name)
	st.LastRunAt = deps.Now()
	fail := func(err error) (api.BackupRunResult, error) {
		err = interruption(ctx, err)
		st.LastError = err.Error()
		_ = writeRunStatus(p, cfg.Name, st)
		_ = record(p, op, "backup/"+cfg.Name, "run", "", "", err.Error())
		log.Error("backup failed", "schedule", cfg.Name, "error", err)
		return res, err
	}
	ec, err := engineConfig(p, cfg)
	if err != nil {
		return fail(err)
	}
	if err := runHooks(ctx, "pre", cfg.Pre); err != nil {
		return fail(err)
	}
	eng, closeEng, err := OpenBackupEngine(ctx, p, cfg, log)
	if err != nil {
		return fail(err)
	}
	defer closeEng()
	// A snapshot is published only once its archive and manifest read back
	// from the destination with the digests they were written with.
	snap, err := eng.Backup(ctx, ec)
	if err != nil {
		if errors.Is(err, backup.ErrCorrupt) {
			_ = emitEvent(p, Event{Kind: EventBackupVerificationFailed, Schedule: cfg.Name, Message: err.Error()})
		}
		return fail(fmt.Errorf("snapshot: %w", err))
	}
	st.LastVerifiedAt = deps.Now()
	if drillDue(cfg, st, deps.Now()) && cfg.PassphraseFile != "" {
		id, err := eng.PassphraseIdentity(ctx, cfg.Name, cfg.PassphraseFile)
		if err == nil {
			_, err = eng.Verify(ctx, cfg.Name, snap.ID, []age.Identity{id})
		}
		if err != nil {
			_ = emitEvent(p, Event{Kind: EventBackupVerificationFailed, Schedule: cfg.Name, Snapshot: snap.ID, Message: "restore drill: " + err.Error()})
			return fail(fmt.Errorf("restore drill of %s: %w", snap.ID, err))
		}
		st.LastDrillAt = deps.Now()
	}
	if err := runHooks(ctx, "post", cfg.Post); err != nil {
		return fail(err)
	}
	removed, err := applyRetention(ctx, eng, cfg, ec, deps.Now())
	if err != nil {
		return fail(fmt.Errorf("retention: %w", err))
	}
	st.LastSuccessAt, st.LastSnapshotID, st.LastError = deps.Now(), snap.ID, ""
	if err := writeRunStatus(p, cfg.Name, st); err != nil {
		return res, err
	}
	if err := record(p, op, "backup/"+cfg.Name, "run", "", "snapshot:"+snap.ID, "ok"); err != nil {
		return res, err
	}
	log.Info("backup done", "schedule", cfg.Name, "snapshot", snap.ID, "kind", snap.Kind, "files", snap.Files, "bytes", snap.Bytes, "removed", len(removed))
	res.Snapshot, res.Removed = apiSnapshot(snap), removed
	return res, nil
}

func drillDue(cfg api.BackupSchedule, st backupRunStatus, now time.Time) bool {
	if cfg.VerifyEvery == "" {
		return false
	}
	d, err := api.ParseDuration(cfg.VerifyEvery)
	return err == nil && (st.LastDrillAt.IsZero() || now.Sub(st.LastDrillAt) >= d)
}

func runHooks(ctx context.Context, stage string, cmds []string) error {
	for i, c := range cmds {
		out, err := backup.CommandContext(ctx, "sh", "-c", c).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s[%d] %q: %w: %s", stage, i, c, err, lastLines(string(out), 5))
		}
	}
	return nil
}

// applyRetention removes what the schedule's policy does not keep.
func applyRetention(ctx context.Context, eng *backup.Engine, cfg api.BackupSchedule, ec backup.Config, now time.Time) ([]string, error) {
	r := cfg.Retention
	pol := backup.Policy{KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily,
		KeepWeekly: r.KeepWeekly, KeepMonthly: r.KeepMonthly, KeepYearly: r.KeepYearly}
	if r.KeepWithin != "" {
		d, err := api.ParseDuration(r.KeepWithin)
		if err != nil {
			return nil, fmt.Errorf("keep_within: %w", err)
		}
		pol.KeepWithin = d
	}
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	if pol == (backup.Policy{}) {
		return nil, nil // no policy: keep everything
	}
	snaps, err := eng.List(ctx, cfg.Name)
	if err != nil {
		return nil, err
	}
	keys, err := eng.Recipients(ec)
	if err != nil {
		return nil, err
	}
	items := make([]backup.RetentionItem, 0, len(snaps))
	for _, s := range snaps {
		items = append(items, backup.RetentionItem{ID: s.ID, Time: s.Time, Parent: s.Parent,
			Verified: s.Verified == backup.VerifiedOK, Bad: s.Verified == backup.VerifiedFailed,
			Current: s.ReadableWith(keys)})
	}
	_, remove, _ := backup.SelectKeep(items, pol, now, time.Local)
	ids := make([]string, 0, len(remove))
	for _, it := range remove {
		ids = append(ids, it.ID)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, eng.Remove(ctx, cfg.Name, ids)
}

// lockExclusive takes a non-blocking exclusive lock on path.
func lockExclusive(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errBackupRunning
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}
