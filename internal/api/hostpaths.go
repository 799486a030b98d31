package api

// Host paths and names (DESIGN.md §3, "Host paths"): where the provider
// installs the agent and where the agent keeps its state. Both sides use
// these, so they are defined here once.
const (
	// AgentLibDir holds the versioned agent binaries, the `current` link
	// and the previous binary kept for rollback.
	AgentLibDir = "/usr/local/lib/steward"
	// AgentCurrent is the agent the provider runs: `AgentCurrent rpc`.
	AgentCurrent = AgentLibDir + "/current"
	// ConfigDir holds agent.json and one folder per kind of managed object.
	ConfigDir = "/etc/steward"
	// AgentConfigFile is the agent's own configuration (AgentConfig).
	AgentConfigFile = ConfigDir + "/agent.json"
	// StateDir holds history, alert state, backup catalogs and the heartbeat.
	StateDir = "/var/lib/steward"
	// DaemonSocket is where the daemon answers the rpc side and the CLI
	// (metrics, history): a unix socket only root may connect to, whatever
	// the network listener's TLS and authentication.
	DaemonSocket = "/run/steward/daemon.sock"
	// AuditLog is the tamper-evident audit log.
	AuditLog = "/var/log/steward/audit.log"
	// ServiceName is the agent daemon's systemd unit.
	ServiceName = "steward-agent.service"
	// UnitFile is where the provider installs ServiceName.
	UnitFile = "/etc/systemd/system/" + ServiceName
	// DefaultListen is where the daemon serves /healthz and /metrics unless
	// told otherwise: loopback only.
	DefaultListen = "127.0.0.1:9276"
)
