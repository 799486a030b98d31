package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Component is one long-running part of the daemon: the backup scheduler
// today, collectors, the rule engine and notifiers later. The daemon runs
// every component in its own goroutine under a supervisor that exports its
// health on /metrics, restarts it with backoff when it fails or panics, and
// gives its work a bounded time to finish when the daemon stops.
//
// A component's metrics are its prometheus.Collector: Describe and Collect
// may be called concurrently with Run and with each other, at any time after
// the component is constructed (also before Run starts and after it
// returned), so they must only read state that is safe to share. A
// component without metrics of its own describes and collects nothing.
type Component interface {
	// Name identifies the component in logs and in the component label of
	// its health metrics. It is constant, unique in the daemon, and written
	// in snake_case ("backup_scheduler").
	Name() string

	// Run does the component's work until ctx is cancelled, then returns
	// nil promptly. Cancelling ctx means the daemon stops taking work: Run
	// starts nothing new; work it started with rt.Go goes on for the
	// shutdown grace period, and the daemon waits for it. Any return before
	// ctx is cancelled, with or without an error, and any panic count as a
	// crash: Run is called again after a backoff, on the same component, so
	// it must not assume that it runs for the first time (work from the
	// last call may still be going on).
	Run(ctx context.Context, rt *Runtime) error

	prometheus.Collector
}

// Routed is a component that serves HTTP endpoints of its own (the status
// page, history queries) on the daemon's listener and its unix socket. A
// component that is also a prometheus.Gatherer adds what it gathers to
// /metrics (collections it made on its own schedule, served as they are).
type Routed interface {
	Routes(mux *http.ServeMux)
}

// Runtime is what the daemon gives a running component.
type Runtime struct {
	// Logger carries the component's name.
	Logger *slog.Logger
	// Changed receives a value soon (well within a second) after anything
	// under the configuration directory was created, written, renamed or
	// removed, whoever did it (rpc or an operator's editor). Bursts of
	// changes are coalesced into one value; a component that cares rereads
	// its configuration then, instead of polling for it. A value also comes
	// whenever the watch (re)starts, as what changed before is unknown.
	Changed <-chan struct{}
	// Metrics gathers the daemon's own metrics (component health, each
	// component's metrics, the agent's process), for components that keep
	// or evaluate them with the host's: the history, the rule engine.
	Metrics prometheus.Gatherer

	work   context.Context
	health *componentHealth
	wg     *sync.WaitGroup
	now    func() time.Time
}

// Report records the outcome of one iteration of the component's loop:
// nil keeps (or makes) it healthy, an error marks it unhealthy and stamps
// the time of the error, until the next Report(nil).
func (rt *Runtime) Report(err error) {
	if err == nil {
		rt.health.set(true, time.Time{})
		return
	}
	rt.Logger.Warn("component iteration failed", "error", err)
	rt.health.set(false, rt.now())
}

// Go runs work, a unit of work that should not be cut short (a backup run),
// in its own goroutine. work's context outlives Run's: it is cancelled only
// when the daemon's shutdown grace period ends, with ErrShutdown as its
// cause. The daemon waits for every such goroutine before it exits. A panic
// in work is recovered and recorded as a crash of the component.
func (rt *Runtime) Go(work func(ctx context.Context)) {
	rt.wg.Go(func() {
		defer func() {
			if p := recover(); p != nil {
				rt.Logger.Error("component work panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				rt.health.crashed(rt.now())
			}
		}()
		work(rt.work)
	})
}

// ErrShutdown is the cause of the context of work cut short by a stopping
// daemon, so what that work records says why it stopped.
var ErrShutdown = errors.New("interrupted by daemon shutdown")

// Interruption adds why ctx ended to err, when ctx ended with a cause of its
// own (ErrShutdown), so a run status says "interrupted by daemon shutdown"
// instead of only "context canceled".
func Interruption(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if cause == nil || cause == ctx.Err() || errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w: %w", cause, err)
}

// Supervision timing: a failing component is restarted after a delay that
// doubles from restartMin to restartMax, back to restartMin once it ran
// healthyAfter without failing.
const (
	restartMin   = time.Second
	restartMax   = time.Minute
	healthyAfter = time.Minute
)

// DefaultShutdownGrace is how long a stopping daemon lets running work
// finish before it cuts it short. It stays well under the unit's
// TimeoutStopSec, so systemd never has to kill the daemon.
const DefaultShutdownGrace = 30 * time.Second

// StopSlack is how long work cut short at the end of the grace period has
// to record that (a run status, an audit entry) before the daemon exits
// without it.
const StopSlack = 5 * time.Second

// componentHealth is one component's health as its metrics show it.
type componentHealth struct {
	mu        sync.Mutex
	up        bool
	lastError time.Time
	restarts  int
}

func (h *componentHealth) set(up bool, errAt time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.up = up
	if !errAt.IsZero() {
		h.lastError = errAt
	}
}

func (h *componentHealth) crashed(at time.Time) { h.set(false, at) }

func (h *componentHealth) restarted() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.restarts++
}

func (h *componentHealth) snapshot() (up bool, lastError time.Time, restarts int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up, h.lastError, h.restarts
}

// supervised is a component with what the daemon keeps about it.
type supervised struct {
	c       Component
	health  componentHealth
	changed chan struct{}
}

// Supervisor runs the daemon's components and exports their health. It is
// built once per daemon, from the explicit list in daemonComponents, so a
// daemon (and a test) says exactly what runs in it.
type Supervisor struct {
	list  []*supervised
	log   *slog.Logger
	now   func() time.Time
	grace time.Duration

	upDesc, lastErrorDesc, restartsDesc *prometheus.Desc
}

// NewSupervisor supervises cs, whose names must be unique; a stopping
// daemon gives their work grace to finish.
func NewSupervisor(cs []Component, log *slog.Logger, now func() time.Time, grace time.Duration) (*Supervisor, error) {
	r := &Supervisor{log: log, now: now, grace: grace,
		upDesc: prometheus.NewDesc("steward_component_up",
			"1 while the daemon component's loop is healthy, 0 after a failed iteration or a crash.", []string{"component"}, nil),
		lastErrorDesc: prometheus.NewDesc("steward_component_last_error_timestamp_seconds",
			"When the daemon component last failed or crashed (0: never).", []string{"component"}, nil),
		restartsDesc: prometheus.NewDesc("steward_component_restarts_total",
			"How often the daemon component was restarted after a crash.", []string{"component"}, nil),
	}
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.Name()] {
			return nil, fmt.Errorf("register daemon component %s: the name is taken", c.Name())
		}
		seen[c.Name()] = true
		s := &supervised{c: c, changed: make(chan struct{}, 1)}
		s.health.up = true
		r.list = append(r.list, s)
	}
	return r, nil
}

// Register adds the health metrics and every component's own metrics to reg.
func (r *Supervisor) Register(reg prometheus.Registerer) error {
	if err := reg.Register(r); err != nil {
		return fmt.Errorf("register component health metrics: %w", err)
	}
	for _, s := range r.list {
		if err := reg.Register(s.c); err != nil {
			return fmt.Errorf("register metrics of daemon component %s: %w", s.c.Name(), err)
		}
	}
	return nil
}

// Describe implements prometheus.Collector.
func (r *Supervisor) Describe(ch chan<- *prometheus.Desc) {
	ch <- r.upDesc
	ch <- r.lastErrorDesc
	ch <- r.restartsDesc
}

// Collect implements prometheus.Collector.
func (r *Supervisor) Collect(ch chan<- prometheus.Metric) {
	for _, s := range r.list {
		up, lastErr, restarts := s.health.snapshot()
		var upValue, errValue float64
		if up {
			upValue = 1
		}
		if !lastErr.IsZero() {
			errValue = float64(lastErr.UnixNano()) / 1e9
		}
		name := s.c.Name()
		ch <- prometheus.MustNewConstMetric(r.upDesc, prometheus.GaugeValue, upValue, name)
		ch <- prometheus.MustNewConstMetric(r.lastErrorDesc, prometheus.GaugeValue, errValue, name)
		ch <- prometheus.MustNewConstMetric(r.restartsDesc, prometheus.CounterValue, float64(restarts), name)
	}
}

// ConfigChanged tells every component that the configuration changed. It
// never blocks: a component that has not yet taken the last value gets no
// second one, since one reread covers both changes.
func (r *Supervisor) ConfigChanged() {
	for _, s := range r.list {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
}

// Start runs every component until ctx is cancelled, then gives the work
// they started the grace period to finish, cancels it with ErrShutdown,
// and waits StopSlack more for it to record that. The returned channel is
// closed when everything has returned or that time is up (the components
// still running are then logged by name). metrics is every Runtime's
// Metrics.
func (r *Supervisor) Start(ctx context.Context, metrics prometheus.Gatherer) <-chan struct{} {
	work, cutShort := context.WithCancelCause(context.WithoutCancel(ctx))
	pending := &nameSet{names: map[string]bool{}} // components whose Run or work goes on
	var all sync.WaitGroup
	for _, s := range r.list {
		rt := &Runtime{Logger: r.log.With("component", s.c.Name()), Changed: s.changed, Metrics: metrics,
			work: work, health: &s.health, wg: &sync.WaitGroup{}, now: r.now}
		pending.add(s.c.Name())
		all.Go(func() {
			defer pending.done(s.c.Name())
			r.supervise(ctx, s, rt)
			rt.wg.Wait()
		})
	}
	stopped := make(chan struct{})
	go func() {
		defer cutShort(nil)
		finished := make(chan struct{})
		go func() { all.Wait(); close(finished) }()
		select {
		case <-finished:
			close(stopped)
			return
		case <-ctx.Done():
		}
		r.log.Info("daemon stopping: no new work; running work may finish", "grace", r.grace.String())
		select {
		case <-finished:
		case <-time.After(r.grace):
			r.log.Warn("shutdown grace period over: cutting running work short", "grace", r.grace.String())
			cutShort(ErrShutdown)
			select {
			case <-finished:
			case <-time.After(StopSlack):
				r.log.Error("daemon components did not stop in time; exiting without them", "components", pending.sorted())
			}
		}
		close(stopped)
	}()
	return stopped
}

// supervise runs one component until ctx is cancelled, restarting it with
// backoff after it returns early or panics.
func (r *Supervisor) supervise(ctx context.Context, s *supervised, rt *Runtime) {
	delay := restartMin
	for {
		began := r.now()
		err := runRecovered(ctx, s.c, rt)
		if ctx.Err() != nil {
			if err != nil {
				rt.Logger.Warn("component stopped with an error", "error", err)
			}
			return
		}
		if err == nil {
			err = errors.New("run returned while the daemon runs")
		}
		s.health.crashed(r.now())
		if r.now().Sub(began) >= healthyAfter {
			delay = restartMin
		}
		rt.Logger.Error("component crashed; restarting", "error", err, "restart_in", delay.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, restartMax)
		s.health.restarted()
	}
}

// runRecovered calls c.Run and turns a panic into an error, so one broken
// component never takes the daemon down with it.
func runRecovered(ctx context.Context, c Component, rt *Runtime) (err error) {
	defer func() {
		if p := recover(); p != nil {
			rt.Logger.Error("component panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return c.Run(ctx, rt)
}

// nameSet is a set of component names safe for concurrent use.
type nameSet struct {
	mu    sync.Mutex
	names map[string]bool
}

func (n *nameSet) add(name string)  { n.mu.Lock(); n.names[name] = true; n.mu.Unlock() }
func (n *nameSet) done(name string) { n.mu.Lock(); delete(n.names, name); n.mu.Unlock() }

func (n *nameSet) sorted() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Sorted(maps.Keys(n.names))
}
