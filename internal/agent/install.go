package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/audit"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// ServiceName is the systemd unit the agent daemon runs as.
const ServiceName = "steward-agent.service"

// Services is the service manager the deployment methods drive (systemd on
// real hosts; tests use a fake).
type Services interface {
	// DaemonReload makes the manager re-read unit files.
	DaemonReload(ctx context.Context) error
	// NeedsReload reports whether the unit's files changed since the manager read them.
	NeedsReload(ctx context.Context, unit string) bool
	// Enable makes the unit start at boot; it reports whether it was disabled.
	Enable(ctx context.Context, unit string) (changed bool, err error)
	// Restart (re)starts the unit.
	Restart(ctx context.Context, unit string) error
	// IsActive reports whether the unit runs.
	IsActive(ctx context.Context, unit string) bool
	// DisableNow stops the unit and keeps it from starting at boot; a missing unit is no error.
	DisableNow(ctx context.Context, unit string) error
}

// Paths of what install manages.
func (p Paths) current() string     { return filepath.Join(p.LibDir, "current") }
func (p Paths) previous() string    { return filepath.Join(p.LibDir, "previous") }
func (p Paths) agentConfig() string { return filepath.Join(p.ConfigDir, "agent.json") }
func (p Paths) unit() string        { return filepath.Join(p.Root, "etc/systemd/system", ServiceName) }

func handleInstall(ctx context.Context, deps Deps, req api.Request) (any, error) {
	var params api.InstallParams
	if err := DecodeParams(req, &params); err != nil {
		return nil, err
	}
	return Install(ctx, deps, req.Operator, params)
}

// Install makes params.Binary the current agent (keeping the one before as
// `previous`), writes the agent configuration and the unit, and restarts the
// service when anything changed or it is not running. Every change is audited.
func Install(ctx context.Context, deps Deps, op api.Operator, params api.InstallParams) (api.InstallResult, error) {
	deps = deps.withDefaults()
	p := deps.Paths
	res := api.InstallResult{Version: Version}
	bin := filepath.Clean(params.Binary)
	if filepath.Dir(bin) != filepath.Clean(p.LibDir) || !strings.HasPrefix(filepath.Base(bin), "steward-agent-") {
		return res, badRequest("binary %q must be a staged steward-agent-* file in %s", params.Binary, p.LibDir)
	}
	if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o100 == 0 {
		return res, badRequest("staged binary %s is missing or not executable", bin)
	}
	// Refused before anything changes: the daemon would refuse to start on it.
	if a := params.Config.ListenAddress; a != "" {
		if err := api.CheckListenAddress(a); err != nil {
			return res, badRequest("listen_address %s: %v", a, err)
		}
	}
	if err := os.MkdirAll(p.ConfigDir, 0o700); err != nil {
		return res, fmt.Errorf("create %s: %w", p.ConfigDir, err)
	}
	if err := os.Chmod(p.ConfigDir, 0o700); err != nil {
		return res, fmt.Errorf("restrict %s: %w", p.ConfigDir, err)
	}

	// Binary: current -> bin, the old target kept as previous.
	cur, _ := os.Readlink(p.current())
	res.Previous = cur
	if cur != bin {
		if cur != "" {
			if err := swapLink(cur, p.previous()); err != nil {
				return res, err
			}
			// The configuration that went with the previous binary, for rollback.
			if old, err := os.ReadFile(p.agentConfig()); err == nil {
				if err := atomicfile.Write(p.agentConfig()+".previous", old, 0o600); err != nil {
					return res, err
				}
			}
		}
		if err := swapLink(bin, p.current()); err != nil {
			return res, err
		}
		action := "install"
		if cur != "" {
			action = "upgrade"
		}
		if err := record(p, op, "agent", action, fileDigest(cur), fileDigest(bin)); err != nil {
			return res, err
		}
		res.Changed = true
	}

	// Configuration.
	want := params.Config.Render()
	changed, before, err := writeIfChanged(p.agentConfig(), want, 0o600)
	if err != nil {
		return res, err
	}
	if changed {
		if err := record(p, op, "config/agent.json", "write", before, digest(want)); err != nil {
			return res, err
		}
		res.Changed = true
	}

	// Unit.
	if err := os.MkdirAll(filepath.Dir(p.unit()), 0o755); err != nil {
		return res, fmt.Errorf("create %s: %w", filepath.Dir(p.unit()), err)
	}
	unitChanged, before, err := writeIfChanged(p.unit(), []byte(api.AgentUnit), 0o644)
	if err != nil {
		return res, err
	}
	svc := deps.Services
	if unitChanged {
		if err := record(p, op, "unit/"+ServiceName, "write", before, digest([]byte(api.AgentUnit))); err != nil {
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
		if err := svc.Restart(ctx, ServiceName); err != nil {
			return res, err
		}
		if err := record(p, op, "service/"+ServiceName, "restart", "", ""); err != nil {
			return res, err
		}
		res.Changed = true
	}
	return res, nil
}

func handleRollback(ctx context.Context, deps Deps, req api.Request) (any, error) {
	var params api.RollbackParams
	if err := DecodeParams(req, &params); err != nil {
		return nil, err
	}
	deps = deps.withDefaults()
	p := deps.Paths
	prev, err := os.Readlink(p.previous())
	if err != nil {
		return nil, &api.Error{Code: api.CodeNotFound, Message: "no previous agent is kept on this host: nothing to roll back to"}
	}
	failed, _ := os.Readlink(p.current())
	if err := swapLink(prev, p.current()); err != nil {
		return nil, err
	}
	if old, err := os.ReadFile(p.agentConfig() + ".previous"); err == nil {
		if err := atomicfile.Write(p.agentConfig(), old, 0o600); err != nil {
			return nil, err
		}
	}
	if err := deps.Services.Restart(ctx, ServiceName); err != nil {
		return nil, err
	}
	if err := record(p, req.Operator, "agent", "rollback", fileDigest(failed), fileDigest(prev)); err != nil {
		return nil, err
	}
	deps.Logger.Warn("rolled back the agent", "from", failed, "to", prev, "reason", params.Reason)
	return api.RollbackResult{Restored: prev}, nil
}

func handleUninstall(ctx context.Context, deps Deps, req api.Request) (any, error) {
	var params api.UninstallParams
	if err := DecodeParams(req, &params); err != nil {
		return nil, err
	}
	deps = deps.withDefaults()
	p := deps.Paths
	// Audited first: the log outlives the removal unless purged.
	if err := record(p, req.Operator, "agent", "remove", fileDigest(p.current()), ""); err != nil {
		return nil, err
	}
	if err := deps.Services.DisableNow(ctx, ServiceName); err != nil {
		return nil, err
	}
	if err := os.Remove(p.unit()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove %s: %w", p.unit(), err)
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

// writeIfChanged writes data atomically unless the file already holds it. It
// returns whether it wrote and the digest of what was there before.
func writeIfChanged(path string, data []byte, mode os.FileMode) (bool, string, error) {
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() != mode {
			return true, digest(old), os.Chmod(path, mode)
		}
		return false, digest(old), nil
	}
	before := ""
	if err == nil {
		before = digest(old)
	}
	return true, before, atomicfile.Write(path, data, mode)
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// fileDigest is the digest of a file's content; "" when it cannot be read.
func fileDigest(path string) string {
	if path == "" {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // read-only
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func record(p Paths, op api.Operator, object, action, before, after string, result ...string) error {
	res := "ok"
	if len(result) > 0 {
		res = result[0]
	}
	err := audit.Append(p.AuditLog, audit.Entry{Operator: op, Object: object, Action: action, Before: before, After: after, Result: res})
	if err != nil {
		return fmt.Errorf("append to audit log: %w", err)
	}
	return nil
}
