package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup/schedule"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/alerting"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/logs"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// DefaultListen is where the daemon serves /healthz unless told otherwise:
// loopback only, so nothing about the host is exposed to the network.
const DefaultListen = api.DefaultListen

// shutdownTimeout bounds how long a cancelled daemon waits for HTTP requests in flight.
const shutdownTimeout = 5 * time.Second

// httpTimeouts bound how long one client may hold a connection of the
// daemon's HTTP server, so clients that stall cannot pile up goroutines and
// file descriptors in a root process.
type httpTimeouts struct {
	readHeader, read, write, idle time.Duration
}

// defaultHTTPTimeouts suit the daemon's small, local answers: a request is a
// few hundred bytes and /metrics is computed in milliseconds.
var defaultHTTPTimeouts = httpTimeouts{readHeader: 5 * time.Second, read: 10 * time.Second, write: 30 * time.Second, idle: 60 * time.Second}

// DaemonConfig configures RunDaemon. Zero fields take their defaults.
type DaemonConfig struct {
	Paths  core.Paths
	Listen string // Address of the HTTP server; DefaultListen when empty.
	// Monitoring is what the daemon collects and keeps. Its WebConfigFile,
	// when set, serves HTTPS with basic auth as that exporter-toolkit web
	// configuration says; then Listen may be any address.
	Monitoring        api.Monitoring
	HeartbeatInterval time.Duration // DefaultHeartbeatInterval when zero.
	Logger            *slog.Logger  // Discards everything when nil.
	Now               func() time.Time
	// OnListen, when set, is called with the bound address once the HTTP server
	// accepts connections; tests listen on port 0 and learn the port here.
	OnListen func(net.Addr)
	// Components are what the daemon runs besides its configuration
	// watcher; daemonComponents when nil. Tests give their own (an empty
	// list runs none).
	Components []core.Component
	// ShutdownGrace is how long running work may go on once ctx is
	// cancelled; core.DefaultShutdownGrace when zero.
	ShutdownGrace time.Duration
	// timeouts are defaultHTTPTimeouts when zero; tests shorten them.
	timeouts httpTimeouts
}

// daemonComponents is the one list of what a daemon runs. An explicit list
// rather than node_exporter's registration from init(): components need the
// daemon's paths, clock and logger, which init() does not have, and a test
// builds a daemon from exactly the components it names. Add new ones here.
// closeAll releases what they share (the history store) once they all
// stopped, so a daemon started again in the same process can open it.
func daemonComponents(deps core.Deps, m api.Monitoring) (cs []core.Component, closeAll func() error, err error) {
	hist, err := monitor.OpenHistory(deps, m)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = hist.Close()
		}
	}()
	al, err := alerting.New(deps, m, hist)
	if err != nil {
		return nil, nil, err
	}
	mon, err := monitor.New(deps, m, monitor.Options{History: hist, Version: Version, Commands: monitor.LoadCommands(deps.Paths),
		After: []monitor.AfterCollect{al.AfterCollect}, Alerts: al.PageAlerts})
	if err != nil {
		return nil, nil, err
	}
	return []core.Component{
		schedule.NewScheduler(deps),
		mon,
		al,
		al.Notifier(),
		logs.NewDaemon(deps),
	}, hist.Close, nil
}

// daemon holds the state /healthz reports.
type daemon struct {
	cfg     DaemonConfig
	started time.Time

	mu        sync.Mutex
	beatError error // The last heartbeat write failed with this; nil when it succeeded.
}

// RunDaemon runs the host daemon until ctx is cancelled: it rewrites the
// heartbeat file every interval, runs its components (the backup scheduler)
// and answers GET /healthz and GET /metrics. Once ctx is cancelled it starts
// no new work, lets running work finish for cfg.ShutdownGrace, then cuts it
// short and returns. It returns nil after a clean shutdown, and an error
// when it cannot start (address in use, state directory not writable) or the
// HTTP server fails.
func RunDaemon(ctx context.Context, cfg DaemonConfig) error {
	if deliberatelyBroken {
		return errDeliberatelyBroken
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	// agent.json can be written by hand: the provider's plan-time check is not enough.
	if err := (api.AgentConfig{ListenAddress: cfg.Listen, Monitoring: &cfg.Monitoring}).Validate(); err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	if cfg.Monitoring.WebConfigFile != "" {
		if err := checkWebConfig(cfg.Monitoring.WebConfigFile); err != nil {
			return fmt.Errorf("start daemon: %w", err)
		}
	}
	if cfg.timeouts == (httpTimeouts{}) {
		cfg.timeouts = defaultHTTPTimeouts
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.HeartbeatInterval < 0 {
		return fmt.Errorf("start daemon: heartbeat interval %s is negative", cfg.HeartbeatInterval)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = core.DefaultShutdownGrace
	}
	d := &daemon{cfg: cfg, started: cfg.Now()}
	log := cfg.Logger
	// A change whose revert timer was lost (the host was down at its time)
	// is reverted now: unconfirmed, it may be what locks the operator out.
	if err := core.RevertOverdue(ctx, core.Deps{Paths: cfg.Paths, Logger: log, Now: cfg.Now}); err != nil {
		log.Error("revert overdue changes", "error", err)
	}
	if cfg.Components == nil {
		cs, closeAll, err := daemonComponents(core.Deps{Paths: cfg.Paths, Logger: log, Now: cfg.Now}, cfg.Monitoring)
		if err != nil {
			return fmt.Errorf("start daemon: %w", err)
		}
		defer func() {
			if err := closeAll(); err != nil {
				log.Warn("close the daemon's components", "error", err)
			}
		}()
		cfg.Components = cs
	}
	var cs *core.Supervisor // the watcher tells every component, itself included
	watcher := &configWatcher{dir: cfg.Paths.ConfigDir, notify: func() { cs.ConfigChanged() }}
	cs, err := core.NewSupervisor(append([]core.Component{watcher}, cfg.Components...), log, cfg.Now, cfg.ShutdownGrace)
	if err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	reg, err := newMetricsRegistry(cs)
	if err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}

	if err := os.MkdirAll(cfg.Paths.StateDir, 0o700); err != nil {
		return fmt.Errorf("start daemon: create state directory %s: %w", cfg.Paths.StateDir, err)
	}
	// The first beat is written before anything else, so a state directory
	// that cannot be written stops the start instead of hiding behind a 200.
	if err := d.beat(false); err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("start daemon: listen on %s: %w", cfg.Listen, err)
	}
	// localhost is resolved through /etc/hosts, which may say anything.
	if tcp, ok := ln.Addr().(*net.TCPAddr); cfg.Monitoring.WebConfigFile == "" && (!ok || !tcp.IP.IsLoopback()) {
		_ = ln.Close()
		return fmt.Errorf("start daemon: %s resolved to %s, which is not a loopback address: %s", cfg.Listen, ln.Addr(), api.LoopbackOnly)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", d.serveHealthz)
	gatherers := prometheus.Gatherers{reg}
	for _, c := range cfg.Components {
		if r, ok := c.(core.Routed); ok {
			r.Routes(mux)
		}
		if g, ok := c.(prometheus.Gatherer); ok {
			gatherers = append(gatherers, g)
		}
	}
	mh, err := metricsHandler(gatherers, log)
	if err != nil {
		return err
	}
	mux.Handle("/metrics", mh)
	t := cfg.timeouts
	newServer := func() *http.Server {
		return &http.Server{Handler: mux, ReadHeaderTimeout: t.readHeader, ReadTimeout: t.read, WriteTimeout: t.write, IdleTimeout: t.idle,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	}
	srv, sockSrv := newServer(), newServer()
	// The socket serves the rpc side and the CLI, as root only, whatever the
	// network listener asks of its clients.
	sock, err := core.ListenSocket(cfg.Paths)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("start daemon: %w", err)
	}
	defer func() { _ = os.Remove(cfg.Paths.Socket) }()
	go func() { _ = sockSrv.Serve(sock) }()
	served := make(chan error, 1)
	go func() {
		if cfg.Monitoring.WebConfigFile == "" {
			served <- srv.Serve(ln)
			return
		}
		served <- web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &cfg.Monitoring.WebConfigFile}, log)
	}()
	log.Info("daemon started", "version", Version, "listen", ln.Addr().String(), "heartbeat_interval", cfg.HeartbeatInterval.String())
	if cfg.OnListen != nil {
		cfg.OnListen(ln.Addr())
	}

	// The components stop when ctx does, or when the HTTP server fails;
	// heartbeats and HTTP go on while their running work finishes.
	compCtx, stopComponents := context.WithCancel(ctx)
	defer stopComponents()
	stopped := cs.Start(compCtx, reg)

	ticker := time.NewTicker(cfg.HeartbeatInterval)
	defer ticker.Stop()
	for {
		select {
		case <-stopped:
			shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			err := errors.Join(srv.Shutdown(shutCtx), sockSrv.Shutdown(shutCtx))
			cancel()
			if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
				log.Warn("http server stopped with an error", "error", serr)
			}
			// A final beat marks the stop, so health reports the daemon as
			// stopped at once instead of after three missed beats.
			if berr := d.beat(true); berr != nil {
				log.Warn("final heartbeat not written", "error", berr)
			}
			if err != nil {
				return fmt.Errorf("stop daemon: shut down http server on %s: %w", ln.Addr(), err)
			}
			log.Info("daemon stopped")
			return nil
		case err := <-served:
			stopComponents()
			<-stopped
			return fmt.Errorf("daemon: serve http on %s: %w", ln.Addr(), err)
		case <-ticker.C:
			if err := d.beat(false); err != nil {
				log.Error("heartbeat not written", "error", err)
			}
		}
	}
}

// beat writes the heartbeat file and remembers whether that worked.
func (d *daemon) beat(stopped bool) error {
	h := Heartbeat{
		Time:       d.cfg.Now().UTC(),
		Started:    d.started.UTC(),
		IntervalMS: d.cfg.HeartbeatInterval.Milliseconds(),
		PID:        os.Getpid(),
		Version:    Version,
		Stopped:    stopped,
	}
	data, err := json.Marshal(h)
	if err == nil {
		err = atomicfile.Write(d.cfg.Paths.Heartbeat(), append(data, '\n'), 0o644)
	}
	if err != nil {
		err = fmt.Errorf("write heartbeat %s: %w", d.cfg.Paths.Heartbeat(), err)
	}
	d.mu.Lock()
	d.beatError = err
	d.mu.Unlock()
	return err
}

// HealthzResponse is the body of GET /healthz.
type HealthzResponse struct {
	Status  string `json:"status"` // "ok", or "failing" with Error set.
	Version string `json:"version"`
	HostID  string `json:"host_id,omitempty"`
	Error   string `json:"error,omitempty"`
}

func (d *daemon) serveHealthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body := HealthzResponse{Status: "ok", Version: Version}
	code := http.StatusOK
	id, err := core.ReadHostID(d.cfg.Paths)
	d.mu.Lock()
	beatErr := d.beatError
	d.mu.Unlock()
	err = errors.Join(err, beatErr)
	body.HostID = id
	if err != nil {
		body.Status, body.Error, code = "failing", err.Error(), http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
