// Package agent is steward-agent, the helper that runs on managed hosts:
// method dispatch, the daemon, and the agent's own deployment (install,
// rollback, uninstall, packages). What every feature shares lives in
// package core; each feature lives in its own package and plugs in through
// DefaultMethods (its rpc methods) and daemonComponents (its daemon
// components): backups in backup/schedule, over the engine in backup.
//
// It has two faces. `steward-agent rpc` is short-lived: Serve reads one
// api.Request from standard input, dispatches it by method name through a
// small registry of handlers, and writes one api.Response to standard output.
// `steward-agent daemon` runs as a systemd service: RunDaemon rewrites a
// heartbeat file in the state directory every interval and answers GET
// /healthz and GET /metrics on a loopback address. The rpc side reads that
// heartbeat to tell the provider whether the daemon is alive, so the two
// never talk directly: rpc writes files under /etc/steward, and the daemon's
// inotify watch (configWatcher) tells its components within a second.
//
// The daemon's work is done by components (core.Component: a name, a run
// loop and a prometheus.Collector), listed in daemonComponents and
// supervised alike by core.Supervisor: each one's health is
// steward_component_up and steward_component_last_error_timestamp_seconds,
// a crash or panic is restarted with backoff, and on SIGTERM the daemon
// takes no new work, gives work in progress core.DefaultShutdownGrace to
// finish, then cuts it short with a cause (core.ErrShutdown) that the work
// records.
//
// Every host path hangs off core.Paths, and core.PathsUnder takes the root,
// so tests run against a fixture tree in a temporary directory (the
// node_exporter way with /proc). Files the agent manages are written with
// atomicfile.Write.
//
// Version is set at build time:
//
//	go build -ldflags "-X github.com/stewardhq/terraform-provider-steward/internal/agent.Version=1.2.3" ./cmd/steward-agent
package agent

// Version is the agent's release version, set with -ldflags at build time.
var Version = "dev"
