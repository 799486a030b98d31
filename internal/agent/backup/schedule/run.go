package schedule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func handleBackupRun(ctx context.Context, deps core.Deps, req api.Request) (any, error) {
	deps, cfg, err := requested(deps, req)
	if err != nil {
		return nil, err
	}
	return Run(ctx, deps, cfg, req.Operator)
}

// errBackupRunning means another run of the same schedule holds its lock.
var errBackupRunning = errors.New("a run of this schedule is already in progress")

// Run runs one backup of cfg: pre hooks, the snapshot, a read-back of
// its archive digest, a restore drill when one is due and the host holds an
// identity, post hooks, then retention. Runs of one schedule never overlap.
func Run(ctx context.Context, deps core.Deps, cfg api.BackupSchedule, op api.Operator) (api.BackupRunResult, error) {
	deps = deps.WithDefaults()
	p, log := deps.Paths, deps.Logger
	var res api.BackupRunResult
	if err := os.MkdirAll(StateDir(p), 0o700); err != nil {
		return res, err
	}
	unlock, err := lockExclusive(lockFile(p, cfg.Name))
	if err != nil {
		return res, err
	}
	defer unlock()

	st := ReadRunStatus(p, cfg.Name)
	st.LastRunAt = deps.Now()
	fail := func(err error) (api.BackupRunResult, error) {
		err = core.Interruption(ctx, err)
		st.LastError = err.Error()
		_ = WriteRunStatus(p, cfg.Name, st)
		_ = core.Record(p, op, "backup/"+cfg.Name, "run", "", "", err.Error())
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
	eng, closeEng, err := OpenEngine(ctx, p, cfg, log)
	if err != nil {
		return fail(err)
	}
	defer closeEng()
	// A snapshot is published only once its archive and manifest read back
	// from the destination with the digests they were written with.
	snap, err := eng.Backup(ctx, ec)
	if err != nil {
		if errors.Is(err, backup.ErrCorrupt) {
			_ = core.Emit(p, core.Event{Kind: EventBackupVerificationFailed, Schedule: cfg.Name, Message: err.Error()})
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
			_ = core.Emit(p, core.Event{Kind: EventBackupVerificationFailed, Schedule: cfg.Name, Snapshot: snap.ID, Message: "restore drill: " + err.Error()})
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
	if err := WriteRunStatus(p, cfg.Name, st); err != nil {
		return res, err
	}
	if err := core.Record(p, op, "backup/"+cfg.Name, "run", "", "snapshot:"+snap.ID, "ok"); err != nil {
		return res, err
	}
	log.Info("backup done", "schedule", cfg.Name, "snapshot", snap.ID, "kind", snap.Kind, "files", snap.Files, "bytes", snap.Bytes, "removed", len(removed))
	res.Snapshot, res.Removed = apiSnapshot(snap), removed
	return res, nil
}

func drillDue(cfg api.BackupSchedule, st RunStatus, now time.Time) bool {
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
			return fmt.Errorf("%s[%d] %q: %w: %s", stage, i, c, err, core.LastLines(string(out), 5))
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
