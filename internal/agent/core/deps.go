package core

import (
	"context"
	"log/slog"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Handler answers one request for one method. The result is encoded as the
// response's result. To report a failure with a specific code, return an
// *api.Error; any other error is reported as api.CodeInternal.
type Handler func(ctx context.Context, deps Deps, req api.Request) (any, error)

// Deps is what handlers need from the outside world; tests replace any of it.
type Deps struct {
	Paths   Paths
	Now     func() time.Time   // Defaults to time.Now.
	Logger  *slog.Logger       // Defaults to a logger that discards everything.
	Methods map[string]Handler // The agent's method registry; the agent's Serve fills it in.
	// Services is the service manager; defaults to systemd (systemctl).
	Services Services
	// Timers arm the revert of changes that can cut access; defaults to
	// systemd's transient timers.
	Timers Timers
	// Packages is the package manager; defaults to the host's (apt or dnf),
	// looked up only by the method that installs packages.
	Packages Packages
}

// WithDefaults fills in the zero fields that have a default.
func (d Deps) WithDefaults() Deps {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Services == nil {
		d.Services = systemctl{}
	}
	if d.Timers == nil {
		d.Timers = systemdTimers{}
	}
	return d
}

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

// Packages installs packages with the host's package manager.
type Packages interface {
	// Name is "apt" or "dnf".
	Name() string
	// Versions returns the installed version of each package ("" when not installed).
	Versions(ctx context.Context, names []string) (map[string]string, error)
	// Unknown returns the names the package manager has no candidate for.
	Unknown(ctx context.Context, names []string) ([]string, error)
	// Install installs the packages; it must be idempotent.
	Install(ctx context.Context, names []string) error
}
