package api

import "time"

// MethodHealth reports the agent's version, the host's identity and whether
// the daemon is alive. It takes no parameters and changes nothing.
const MethodHealth = "health"

// HealthResult is the result of MethodHealth.
type HealthResult struct {
	AgentVersion  string    `json:"agent_version"`
	HostID        string    `json:"host_id"`                 // The host's /etc/machine-id.
	Protocol      int       `json:"protocol"`                // The agent's ProtocolVersion.
	UptimeSeconds int64     `json:"uptime_seconds"`          // Host uptime from /proc/uptime; 0 when unknown.
	DaemonRunning bool      `json:"daemon_running"`          // The daemon's heartbeat is fresher than three heartbeat intervals.
	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"` // When the daemon last wrote its heartbeat; absent when it never did.
}
