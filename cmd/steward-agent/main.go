// Command steward-agent is Steward's helper on managed hosts. The provider
// installs it and talks to it through `steward-agent rpc` over SSH; systemd
// runs `steward-agent daemon`; operators use `status` and `audit verify`.
//
// Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"

	"github.com/stewardhq/terraform-provider-steward/internal/agent"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/audit"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usage = `usage: steward-agent <command> [flags]

commands:
  version                      print the agent version and protocol
  rpc                          answer one JSON request from stdin on stdout
  daemon [--listen ADDR] [--heartbeat-interval DURATION] [--shutdown-grace DURATION]
                               run the host daemon (heartbeat, backup scheduler,
                               GET /healthz and /metrics); on SIGTERM running
                               work gets the grace period to finish
  status [--json]              show version, host id and daemon state
  audit verify [--file PATH]   check the audit log's hash chain
  backup run|list|verify|restore  run and restore backups (steward-agent backup for help)
  metrics [NAME...]            current values from the running daemon
  metrics --range WINDOW NAME  summaries of NAME over WINDOW from the history
  alerts [--rule NAME] [--state STATE] [--since DURATION]
                               alert states and recent transitions and deliveries
                               from the running daemon
  rules test FILE              run a rule test file and print the states over time
  logs status [--json]         log forwarders: position, lag, last error per source
  compliance [--profile NAME] [--json]
                               every control of the hardening profiles, read live;
                               exits 1 when one fails
  revert ID                    put back what an unconfirmed change replaced (its
                               systemd timer runs this; by hand only to revert early)
`

func main() {
	// Nothing reads heap profiles (there is no pprof endpoint), and
	// sampling them keeps a bucket per sampled stack for the life of a
	// daemon: its hash table's pages become resident one by one.
	runtime.MemProfileRate = 0
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal asks for a clean stop (a daemon lets running work
	// finish); a second one ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	paths := core.DefaultPaths()
	if root := os.Getenv("STEWARD_ROOT"); root != "" {
		// Everything under another root: for benchmarks and tests, never on a managed host.
		paths = core.PathsUnder(root)
	}
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, paths)
	stop()
	os.Exit(code)
}

// cli carries what every subcommand needs; tests give it a temporary host root.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	paths          core.Paths
	log            *slog.Logger
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, paths core.Paths) int {
	// Logs go to stderr: stdout belongs to rpc responses and command output.
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, paths: paths, log: slog.New(slog.NewTextHandler(stderr, nil))}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "version":
		return c.version(rest)
	case "rpc":
		return c.rpc(ctx, rest)
	case "daemon":
		return c.daemon(ctx, rest)
	case "status":
		return c.status(rest)
	case "audit":
		return c.audit(rest)
	case "backup":
		return c.backup(ctx, rest)
	case "metrics":
		return c.metrics(ctx, rest)
	case "alerts":
		return c.alerts(ctx, rest)
	case "rules":
		return c.rules(rest)
	case "logs":
		return c.logs(ctx, rest)
	case "revert":
		return c.revert(ctx, rest)
	case "compliance":
		return c.compliance(ctx, rest)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "steward-agent: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// newFlags returns a flag set that reports errors instead of exiting.
func (c *cli) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("steward-agent "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

// parse parses args and returns the exit code to stop with, or -1 to go on.
func (c *cli) parse(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	return -1
}

func (c *cli) fail(op string, err error) int {
	fmt.Fprintf(c.stderr, "steward-agent %s: %v\n", op, err)
	return exitFailure
}

func (c *cli) version(args []string) int {
	if code := c.parse(c.newFlags("version"), args); code >= 0 {
		return code
	}
	fmt.Fprintf(c.stdout, "steward-agent %s (protocol %d)\n", agent.Version, api.ProtocolVersion)
	return exitOK
}

// rpc exits 0 whenever it wrote a response, even one that carries an error:
// the provider reads the structured error from stdout.
func (c *cli) rpc(ctx context.Context, args []string) int {
	if code := c.parse(c.newFlags("rpc"), args); code >= 0 {
		return code
	}
	if err := agent.Serve(ctx, c.stdin, c.stdout, core.Deps{Paths: c.paths, Logger: c.log}); err != nil {
		return c.fail("rpc", err)
	}
	return exitOK
}

func (c *cli) daemon(ctx context.Context, args []string) int {
	fs := c.newFlags("daemon")
	listen := fs.String("listen", agent.DefaultListen, "address for GET /healthz")
	interval := fs.Duration("heartbeat-interval", agent.DefaultHeartbeatInterval, "how often to write the heartbeat file")
	grace := fs.Duration("shutdown-grace", core.DefaultShutdownGrace, "how long running work (a backup) may go on after SIGTERM")
	if code := c.parse(fs, args); code >= 0 {
		return code
	}
	if os.Getenv("GOGC") == "" {
		// The daemon's live heap is small (2-3 MiB) and the Go runtime's
		// floor for the heap goal (4 MiB at GOGC=100) dominates its
		// memory; at 50 it holds 1.3-1.8 MiB less for 0.02 CPU-s a minute
		// more (bench/monitor.sh).
		debug.SetGCPercent(50)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		core.IdleOnOneCPU() // a scheduled backup takes every CPU again (core.AllCPUs)
	}
	// Settings not given as flags come from /etc/steward/agent.json.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	conf, err := agent.LoadConfig(c.paths)
	if err != nil {
		return c.fail("daemon", err)
	}
	if !set["listen"] && conf.ListenAddress != "" {
		*listen = conf.ListenAddress
	}
	if !set["heartbeat-interval"] && conf.HeartbeatInterval != "" {
		d, err := time.ParseDuration(conf.HeartbeatInterval)
		if err != nil {
			return c.fail("daemon", fmt.Errorf("heartbeat_interval in agent.json: %w", err))
		}
		*interval = d
	}
	if *interval <= 0 {
		fmt.Fprintf(c.stderr, "steward-agent daemon: --heartbeat-interval must be positive, got %s\n", *interval)
		return exitUsage
	}
	if *grace <= 0 {
		fmt.Fprintf(c.stderr, "steward-agent daemon: --shutdown-grace must be positive, got %s\n", *grace)
		return exitUsage
	}
	cfg := agent.DaemonConfig{Paths: c.paths, Listen: *listen, HeartbeatInterval: *interval, ShutdownGrace: *grace, Logger: c.log,
		Monitoring: conf.Monitoring.WithDefaults()}
	if err := agent.RunDaemon(ctx, cfg); err != nil {
		return c.fail("daemon", err)
	}
	return exitOK
}

func (c *cli) status(args []string) int {
	fs := c.newFlags("status")
	asJSON := fs.Bool("json", false, "print the health result as JSON")
	if code := c.parse(fs, args); code >= 0 {
		return code
	}
	h, err := agent.Health(core.Deps{Paths: c.paths, Logger: c.log})
	if err != nil {
		return c.fail("status", err)
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(h); err != nil {
			return c.fail("status", fmt.Errorf("write health result: %w", err))
		}
		return exitOK
	}
	running := "no"
	if h.DaemonRunning {
		running = "yes"
	}
	last := "never"
	if !h.LastHeartbeat.IsZero() {
		last = fmt.Sprintf("%s (%s ago)", h.LastHeartbeat.Format(time.RFC3339), time.Since(h.LastHeartbeat).Round(time.Second))
	}
	fmt.Fprintf(c.stdout, "agent version:   %s (protocol %d)\nhost id:         %s\nhost uptime:     %s\ndaemon running:  %s\nlast heartbeat:  %s\n",
		h.AgentVersion, h.Protocol, h.HostID, time.Duration(h.UptimeSeconds)*time.Second, running, last)
	return exitOK
}

func (c *cli) audit(args []string) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintf(c.stderr, "usage: steward-agent audit verify [--file PATH]\n")
		return exitUsage
	}
	fs := c.newFlags("audit verify")
	file := fs.String("file", c.paths.AuditLog, "audit log to verify")
	if code := c.parse(fs, args[1:]); code >= 0 {
		return code
	}
	n, err := audit.Verify(*file)
	if err != nil {
		return c.fail("audit verify", err)
	}
	fmt.Fprintf(c.stdout, "audit log OK: %d lines\n", n)
	return exitOK
}
