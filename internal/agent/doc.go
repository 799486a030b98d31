// Package agent is steward-agent, the helper that runs on managed hosts.
//
// It has two faces. `steward-agent rpc` is short-lived: Serve reads one
// api.Request from standard input, dispatches it by method name through a
// small registry of handlers, and writes one api.Response to standard output.
// `steward-agent daemon` runs as a systemd service: RunDaemon rewrites a
// heartbeat file in the state directory every interval and answers GET
// /healthz on a loopback address. The rpc side reads that heartbeat to tell
// the provider whether the daemon is alive, so the two never talk directly.
//
// Every host path hangs off Paths, and PathsUnder takes the root, so tests
// run against a fixture tree in a temporary directory (the node_exporter way
// with /proc). Files the agent manages are written with atomicfile.Write.
//
// Version is set at build time:
//
//	go build -ldflags "-X github.com/stewardhq/terraform-provider-steward/internal/agent.Version=1.2.3" ./cmd/steward-agent
package agent

// Version is the agent's release version, set with -ldflags at build time.
var Version = "dev"
