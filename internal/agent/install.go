package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// ServiceName is the systemd unit the agent daemon runs as.
const ServiceName = "steward-agent.service"

func handleInstall(ctx context.Context, deps core.Deps, req api.Request) (any, error) {
	var params api.InstallParams
	if err := core.DecodeParams(req, &params); err != nil {
		return nil, err
	}
	return Install(ctx, deps, req.Operator, params)
}

// Install makes params.Binary the current agent (keeping the one before as
// `previous`), writes the agent configuration and the unit, and restarts the
// service when anything changed or it is not running. Every change is audited.
func Install(ctx context.Context, deps core.Deps, op api.Operator, params api.InstallParams) (api.InstallResult, error) {
	deps = deps.WithDefaults()
	p := deps.Paths
	res := api.InstallResult{Version: Version}
	bin := filepath.Clean(params.Binary)
	if filepath.Dir(bin) != filepath.Clean(p.LibDir) || !strings.HasPrefix(filepath.Base(bin), "steward-agent-") {
		return res, core.BadRequest("binary %q must be a staged steward-agent-* file in %s", params.Binary, p.LibDir)
	}
	if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o100 == 0 {
		return res, core.BadRequest("staged binary %s is missing or not executable", bin)
	}
	// Refused before anything changes: the daemon would refuse to start on it.
	if err := params.Config.Validate(); err != nil {
		return res, core.BadRequest("agent configuration: %v", err)
	}
	if err := os.MkdirAll(p.ConfigDir, 0o700); err != nil {
		return res, fmt.Errorf("create %s: %w", p.ConfigDir, err)
	}
	if err := os.Chmod(p.ConfigDir, 0o700); err != nil {
		return res, fmt.Errorf("restrict %s: %w", p.ConfigDir, err)
	}

	// Binary: current -> bin, the old target kept as previous.
	cur, _ := os.Readlink(p.CurrentLink())
	res.Previous = cur
	if cur != bin {
		if cur != "" {
			if err := swapLink(cur, p.PreviousLink()); err != nil {
				return res, err
			}
			// The configuration that went with the previous binary, for rollback.
			if old, err := os.ReadFile(p.AgentConfig()); err == nil {
				if err := atomicfile.Write(p.AgentConfig()+".previous", old, 0o600); err != nil {
					return res, err
				}
			}
		}
		if err := swapLink(bin, p.CurrentLink()); err != nil {
			return res, err
		}
		action := "install"
		if cur != "" {
			action = "upgrade"
		}
		if err := core.Record(p, op, "agent", action, core.FileDigest(cur), core.FileDigest(bin)); err != nil {
			return res, err
		}
		res.Changed = true
	}

	// Configuration.
	want := params.Config.Render()
	changed, before, err := core.WriteIfChanged(p.AgentConfig(), want, 0o600)
	if err != nil {
		return res, err
	}
	if changed {
		if err := core.Record(p, op, "config/agent.json", "write", before, core.Digest(want)); err != nil {
			return res, err
		}
		res.Changed = true
	}

	// Unit.
	if err := os.MkdirAll(filepath.Dir(p.Unit()), 0o755); err != nil {
		return res, fmt.Errorf("create %s: %w", filepath.Dir(p.Unit()), err)
	}
	unitChanged, before, err := core.WriteIfChanged(p.Unit(), []byte(api.AgentUnit), 0o644)
	if err != nil {
		return res, err
	}
	svc := deps.Services
	if unitChanged {
		if err := core.Record(p, op, "unit/"+ServiceName, "write", before, core.Digest([]byte(api.AgentUnit))); err != nil {
			return res, err
		}
	}
	disabled, err := disableDropIns(p, op, deps.Now())
	if err != nil {
		return res, err
	}
	if unitChanged || disabled || svc.NeedsReload(ctx, ServiceName) {
		if err := svc.DaemonReload(ctx); err != nil {
			return res, err
		}
		res.Changed = true
	}
	if err := ensureOwned(p, op); err != nil {
		return res, err
	}
	enabled, err := svc.Enable(ctx, ServiceName)
	if err != nil {
		return res, err
	}
	if res.Changed || enabled || !svc.IsActive(ctx, ServiceName) {
		requestMute(deps, "agent install")
		if err := svc.Restart(ctx, ServiceName); err != nil {
			return res, err
		}
		if err := core.Record(p, op, "service/"+ServiceName, "restart", "", ""); err != nil {
			return res, err
		}
		res.Changed = true
	}
	return res, nil
}

func handleRollback(ctx context.Context, deps core.Deps, req api.Request) (any, error) {
	var params api.RollbackParams
	if err := core.DecodeParams(req, &params); err != nil {
		return nil, err
	}
	deps = deps.WithDefaults()
	p := deps.Paths
	prev, err := os.Readlink(p.PreviousLink())
	if err != nil {
		return nil, &api.Error{Code: api.CodeNotFound, Message: "no previous agent is kept on this host: nothing to roll back to"}
	}
	failed, _ := os.Readlink(p.CurrentLink())
	if err := swapLink(prev, p.CurrentLink()); err != nil {
		return nil, err
	}
	if old, err := os.ReadFile(p.AgentConfig() + ".previous"); err == nil {
		if err := atomicfile.Write(p.AgentConfig(), old, 0o600); err != nil {
			return nil, err
		}
	}
	requestMute(deps, "agent rollback")
	if err := deps.Services.Restart(ctx, ServiceName); err != nil {
		return nil, err
	}
	if err := core.Record(p, req.Operator, "agent", "rollback", core.FileDigest(failed), core.FileDigest(prev)); err != nil {
		return nil, err
	}
	deps.Logger.Warn("rolled back the agent", "from", failed, "to", prev, "reason", params.Reason)
	return api.RollbackResult{Restored: prev}, nil
}

func handleUninstall(ctx context.Context, deps core.Deps, req api.Request) (any, error) {
	var params api.UninstallParams
	if err := core.DecodeParams(req, &params); err != nil {
		return nil, err
	}
	deps = deps.WithDefaults()
	p := deps.Paths
	// Audited first: the log outlives the removal unless purged.
	if err := core.Record(p, req.Operator, "agent", "remove", core.FileDigest(p.CurrentLink()), ""); err != nil {
		return nil, err
	}
	if err := deps.Services.DisableNow(ctx, ServiceName); err != nil {
		return nil, err
	}
	if err := os.Remove(p.Unit()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove %s: %w", p.Unit(), err)
	}
	if err := deps.Services.DaemonReload(ctx); err != nil {
		return nil, err
	}
	remove := []string{p.LibDir, p.ConfigDir}
	if params.Purge {
		remove = append(remove, p.StateDir, filepath.Dir(p.AuditLog))
	}
	for _, dir := range remove {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	return struct{}{}, nil
}

// swapLink points link at target atomically (a new link renamed over the old).
func swapLink(target, link string) error {
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s -> %s: %w", link, target, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("link %s -> %s: %w", link, target, err)
	}
	return atomicfile.SyncDir(filepath.Dir(link))
}

// requestMute mutes the alert rules with mute_during_changes while the
// daemon restarts for Steward's own change. It is best effort: a mute that
// cannot be requested must not stop the deploy, so it is only logged.
func requestMute(deps core.Deps, reason string) {
	if err := core.RequestMute(deps.Paths, deps.Now().Add(core.ChangeMuteWindow), reason); err != nil {
		deps.Logger.Warn("alerts not muted for the restart", "reason", reason, "error", err)
	}
}
