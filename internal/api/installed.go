package api

import (
	"fmt"
	"io/fs"
	"path"
)

// What a deployment puts on a host, beside the packages it installs. The
// agent's install writes and repairs these, and steward_host's drift check
// compares the host against the same definitions, so anything added here is
// both installed and checked.

// AgentUnit is the content of UnitFile. It starts whatever `current` points
// to, so an upgrade or a rollback is a link swap and a restart.
const AgentUnit = `[Unit]
Description=Steward agent (heartbeat, health, metrics, backups; later alerts)
Documentation=https://registry.terraform.io/providers/stewardhq/steward/latest/docs/resources/host
After=network-online.target

[Service]
Type=simple
ExecStart=` + AgentCurrent + ` daemon
Restart=on-failure
RestartSec=2
# SIGTERM goes to the daemon alone, so the hooks of a running backup are not
# killed under it; the daemon gives running work 30 s (DefaultShutdownGrace),
# then cuts it short and records that, well before systemd would kill it.
KillMode=mixed
TimeoutStopSec=60
UMask=0077

[Install]
WantedBy=multi-user.target
`

// AgentBinaryMode is the mode of every agent binary in AgentLibDir.
const AgentBinaryMode fs.FileMode = 0o755

// UnitDropInDir is the directory name under which systemd merges drop-ins
// (*.conf) into ServiceName.
const UnitDropInDir = ServiceName + ".d"

// UnitDirs are the directories systemd loads system units and their drop-ins
// from, highest priority first (systemd.unit(5), "Unit File Load Path").
// UnitDropInDir in any of them changes how the agent runs. An entry that is a
// symbolic link to another (/lib on merged-/usr systems) is skipped.
var UnitDirs = []string{
	"/etc/systemd/system.control",
	"/run/systemd/system.control",
	"/run/systemd/transient",
	"/etc/systemd/system",
	"/run/systemd/system",
	"/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system",
	"/lib/systemd/system",
}

// OwnedPath is a path a deployment owns on the host: a directory or a
// regular file, owned by root, with Mode.
type OwnedPath struct {
	Path string
	Dir  bool
	Mode fs.FileMode
}

// Want is the state o must be in.
func (o OwnedPath) Want() PathState {
	kind := KindFile
	if o.Dir {
		kind = KindDir
	}
	return PathState{Kind: kind, Mode: uint32(o.Mode.Perm())}
}

// Kinds of PathState.
const (
	KindMissing = ""
	KindFile    = "file"
	KindDir     = "directory"
	KindSymlink = "symlink"
	KindOther   = "special file"
)

// PathState is what a path on the host is: its kind, mode and owner, or
// where it links to. Its String form is what the drift check compares and
// the audit log records.
type PathState struct {
	Kind     string
	Mode     uint32 // As chmod numbers it: permissions, setuid, setgid, sticky.
	UID, GID int
	Target   string // Of a symbolic link.
}

func (s PathState) String() string {
	switch s.Kind {
	case KindMissing:
		return "missing"
	case KindSymlink:
		return "symlink to " + s.Target
	}
	return fmt.Sprintf("%s %04o %d:%d", s.Kind, s.Mode, s.UID, s.GID)
}

// OwnedPaths lists what a deployment owns on the host besides the agent
// binaries and the `current` link, which depend on the agent build.
func OwnedPaths() []OwnedPath {
	return []OwnedPath{
		{Path: AgentLibDir, Dir: true, Mode: 0o755},
		{Path: ConfigDir, Dir: true, Mode: 0o700},
		{Path: AgentConfigFile, Mode: 0o600},
		{Path: UnitFile, Mode: 0o644},
		{Path: StateDir, Dir: true, Mode: 0o700},
		{Path: path.Dir(AuditLog), Dir: true, Mode: 0o700},
		{Path: AuditLog, Mode: 0o600},
	}
}
