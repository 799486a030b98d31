package core

import (
	"path/filepath"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Paths are the host paths the agent reads and writes (DESIGN.md §3, "Host paths").
type Paths struct {
	Root      string // File system root every other path lives under; "/" on a real host.
	LibDir    string // Versioned agent binaries and the `current` link.
	ConfigDir string // One JSON file per managed object, mode 0700.
	StateDir  string // History, alert state, backup catalog, daemon heartbeat.
	AuditLog  string // The tamper-evident audit log, mode 0600.
	MachineID string // The host's identity (/etc/machine-id).
	Uptime    string // Kernel uptime (/proc/uptime).
	Socket    string // The daemon's unix socket for the rpc side and the CLI.
}

// DefaultPaths returns the paths on a real host.
func DefaultPaths() Paths { return PathsUnder("/") }

// PathsUnder returns the host paths below root, so tests can use a temporary directory.
func PathsUnder(root string) Paths {
	at := func(p string) string { return filepath.Join(root, p) }
	return Paths{
		Root:      root,
		LibDir:    at(api.AgentLibDir),
		ConfigDir: at(api.ConfigDir),
		StateDir:  at(api.StateDir),
		AuditLog:  at(api.AuditLog),
		MachineID: at("/etc/machine-id"),
		Uptime:    at("/proc/uptime"),
		Socket:    at(api.DaemonSocket),
	}
}

// Heartbeat is the file the daemon rewrites every heartbeat interval.
func (p Paths) Heartbeat() string { return filepath.Join(p.StateDir, "heartbeat") }

// Paths of what the agent's install manages.

// CurrentLink is the link to the agent binary that runs.
func (p Paths) CurrentLink() string { return filepath.Join(p.LibDir, "current") }

// PreviousLink is the link to the agent binary a rollback returns to.
func (p Paths) PreviousLink() string { return filepath.Join(p.LibDir, "previous") }

// AgentConfig is the agent's own configuration, /etc/steward/agent.json.
func (p Paths) AgentConfig() string { return filepath.Join(p.Root, api.AgentConfigFile) }

// Unit is the daemon's systemd unit file.
func (p Paths) Unit() string { return filepath.Join(p.Root, api.UnitFile) }

// ObjectFile is where the spec of a managed object lives.
func (p Paths) ObjectFile(dir, name string) string {
	return filepath.Join(p.ConfigDir, dir, name+".json")
}

// Events is the file of events for the monitoring side (see Emit).
func (p Paths) Events() string { return filepath.Join(p.StateDir, "events.jsonl") }
