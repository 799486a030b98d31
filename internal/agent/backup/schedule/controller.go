package schedule

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/cron"
)

// backupController is the managed-object controller of backup schedules:
// the daemon's scheduler reads the spec files, so applying one only checks
// it, and removing one leaves its snapshots at the destination.
type backupController struct{ deps core.Deps }

func newBackupController(deps core.Deps) core.Controller[api.BackupSchedule, api.BackupObserved] {
	return backupController{deps: deps}
}

// Check refuses a schedule that cannot run: a bad cron expression, a path
// that does not exist.
func (c backupController) Check(_ context.Context, cfg api.BackupSchedule) error {
	if _, err := cron.Parse(cfg.Schedule); err != nil {
		return core.BadRequest("%v", err)
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
func (c backupController) Apply(context.Context, api.BackupSchedule, *api.BackupSchedule) (core.Applied, error) {
	return core.Applied{}, nil
}

// Remove keeps the snapshots: removing a schedule never deletes backups.
func (c backupController) Remove(context.Context, api.BackupSchedule) error { return nil }

// Observe reports the runs' results and the catalog at the destination. A
// failure to reach the destination is reported in LastError, not as an
// error: the schedule itself is there.
func (c backupController) Observe(ctx context.Context, cfg api.BackupSchedule) (api.BackupObserved, error) {
	p := c.deps.Paths
	run := ReadRunStatus(p, cfg.Name)
	o := api.BackupObserved{LastSuccessAt: run.LastSuccessAt, LastSnapshotID: run.LastSnapshotID,
		LastVerifiedAt: run.LastVerifiedAt, LastError: run.LastError}
	fail := func(what string, err error) {
		if o.LastError == "" {
			o.LastError = what + ": " + err.Error()
		}
	}
	eng, closeEng, err := OpenEngine(ctx, p, cfg, c.deps.Logger)
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

// requested decodes a request that names a schedule and loads it.
func requested(deps core.Deps, req api.Request) (core.Deps, api.BackupSchedule, error) {
	var n api.BackupName
	if err := core.DecodeParams(req, &n); err != nil {
		return deps, api.BackupSchedule{}, err
	}
	deps = deps.WithDefaults()
	cfg, err := existingSchedule(deps.Paths, n.Name)
	return deps, cfg, err
}

func handleBackupList(ctx context.Context, deps core.Deps, req api.Request) (any, error) {
	deps, cfg, err := requested(deps, req)
	if err != nil {
		return nil, err
	}
	eng, closeEng, err := OpenEngine(ctx, deps.Paths, cfg, deps.Logger)
	if err != nil {
		return nil, err
	}
	defer closeEng()
	snaps, err := eng.List(ctx, cfg.Name)
	if err != nil {
		return nil, err
	}
	hostID, err := core.ReadHostID(deps.Paths)
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
func existingSchedule(p core.Paths, name string) (api.BackupSchedule, error) {
	cfg, _, err := Load(p, name)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, &api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf("no backup schedule %q on this host", name)}
	}
	return cfg, err
}
