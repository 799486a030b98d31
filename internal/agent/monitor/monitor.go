// Package monitor is the daemon's monitoring component: every interval it
// collects the host's metrics (package collect) and the daemon's own,
// keeps them for /metrics, appends them to the history (package history)
// and hands them to what evaluates them next (the alert rule engine). It
// serves the status page (package page) and the history queries that
// steward_metrics and `steward-agent metrics` make through the daemon's
// socket.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/collect"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/history"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/page"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// AfterCollect is called with every collection, right after it is stored
// (the alert rule engine evaluates there).
type AfterCollect func(ctx context.Context, t time.Time, samples []collect.Sample)

// Monitor is the monitoring component.
type Monitor struct {
	deps     core.Deps
	cfg      api.Monitoring
	interval time.Duration
	set      *collect.Set
	history  *history.Store
	buf      []history.Sample // Append's, reused
	after    []AfterCollect
	hostname string
	version  string
	commands func() ([]collect.Command, error)
	alerts   func() []page.AlertState

	mu       sync.RWMutex
	last     []*dto.MetricFamily // the host collection, served on /metrics as it is
	lastAt   time.Time
	storeErr error // the last Append failed with this
}

var (
	_ core.Component      = (*Monitor)(nil)
	_ core.Routed         = (*Monitor)(nil)
	_ prometheus.Gatherer = (*Monitor)(nil)
)

// Options are what New needs beyond the monitoring settings.
type Options struct {
	// Collect configures the collectors; its Units, TextfileMaxAge and Log
	// are filled in from the settings and deps.
	Collect collect.Config
	// History keeps every collection; nil keeps none.
	History *history.Store
	// After are called with every collection.
	After []AfterCollect
	// Version is the agent's, for the status page.
	Version string
	// Commands lists the custom metric commands; it is called when the
	// component starts and whenever the configuration changes.
	Commands func() ([]collect.Command, error)
	// Alerts lists the alert states the status page shows; nil shows none.
	Alerts func() []page.AlertState
}

// New builds the component for settings m (defaults applied by the caller
// or here).
func New(deps core.Deps, m api.Monitoring, opt Options) (*Monitor, error) {
	deps = deps.WithDefaults()
	m = (&m).WithDefaults()
	interval, textfileAge, _, _, _, err := m.Durations()
	if err != nil {
		return nil, fmt.Errorf("monitoring settings: %w", err)
	}
	cc := opt.Collect
	cc.Units, cc.TextfileMaxAge, cc.Log = m.Units, textfileAge, deps.Logger
	if cc.TextfileDir == "" {
		cc.TextfileDir = filepath.Join(deps.Paths.Root, api.TextfileDir)
	}
	// A collector may take at most the interval, so collections never queue.
	if cc.Timeout <= 0 || cc.Timeout > interval {
		cc.Timeout = min(collect.DefaultTimeout, interval)
	}
	set, err := collect.New(cc)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &Monitor{deps: deps, cfg: m, interval: interval, set: set, history: opt.History, after: opt.After, hostname: host, version: opt.Version, commands: opt.Commands, alerts: opt.Alerts}, nil
}

// Name implements core.Component.
func (m *Monitor) Name() string { return "monitor" }

// Describe implements prometheus.Collector: the collections are gathered,
// not collected (see Gather).
func (m *Monitor) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (m *Monitor) Collect(chan<- prometheus.Metric) {}

// Gather implements prometheus.Gatherer: the last host collection, as it
// was made, so a scrape costs no collection of its own.
func (m *Monitor) Gather() ([]*dto.MetricFamily, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.last, nil
}

// Run collects every interval, on the interval's boundaries, until ctx
// ends, and reads the custom metric commands again when the configuration
// changes.
func (m *Monitor) Run(ctx context.Context, rt *core.Runtime) error {
	cmdErr := m.reloadCommands(rt)
	for {
		now := m.deps.Now()
		next := now.Truncate(m.interval).Add(m.interval)
		if m.lastCollection().IsZero() {
			next = now // collect at once after a start
		}
		timer := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-rt.Changed:
			timer.Stop()
			cmdErr = m.reloadCommands(rt)
			continue
		case <-timer.C:
		}
		rt.Report(errors.Join(cmdErr, m.collectOnce(ctx, rt.Metrics, next)))
	}
}

// reloadCommands gives the collectors the current custom metric commands;
// on an error the ones before stay.
func (m *Monitor) reloadCommands(rt *core.Runtime) error {
	if m.commands == nil {
		return nil
	}
	cmds, err := m.commands()
	if err == nil {
		err = m.set.SetCommands(cmds)
	}
	if err != nil {
		err = fmt.Errorf("custom metrics: %w", err)
		rt.Logger.Warn("custom metric commands not reloaded", "error", err)
	}
	return err
}

func (m *Monitor) lastCollection() time.Time {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.lastAt
}

// collectOnce makes the collection scheduled at t: the host's, cached for
// /metrics; with the daemon's own metrics, stored and handed on. The
// collection carries its scheduled time, not the time it ended, so the
// rule engine's `for` counts whole intervals: with the end time, collections
// of unequal length made three 10 s intervals sum to a little under 30 s,
// and a `for = 30s` fired one collection late about half the time.
func (m *Monitor) collectOnce(ctx context.Context, daemon prometheus.Gatherer, t time.Time) error {
	fams, err := m.set.Gather(ctx)
	if err != nil {
		return err // ctx ended
	}
	samples := collect.Flatten(fams)
	var errs []error
	if daemon != nil {
		own, derr := daemon.Gather()
		if derr != nil {
			errs = append(errs, fmt.Errorf("gather the daemon's metrics: %w", derr))
		}
		samples = append(samples, collect.Flatten(own)...)
	}
	var storeErr error
	if m.history != nil {
		m.buf = m.buf[:0]
		for _, s := range samples {
			m.buf = append(m.buf, history.Sample{Name: s.Name, Labels: historyLabels(s.Labels), Value: s.Value})
		}
		if err := m.history.Append(t, m.buf); err != nil {
			errs = append(errs, fmt.Errorf("store the collection: %w", err))
		}
		// The store keeps going in memory when the disk refuses writes.
		storeErr = m.history.DiskError()
	}
	m.mu.Lock()
	m.last, m.lastAt, m.storeErr = fams, t, storeErr
	m.mu.Unlock()
	for _, f := range m.after {
		f(ctx, t, samples)
	}
	// A failing collector is steward_collector_success 0, not a failing
	// component: the others still collect.
	return errors.Join(errs...)
}

// historyLabels converts collect's labels (same shape) to the store's.
func historyLabels(ls []collect.Label) history.Labels {
	out := make(history.Labels, len(ls))
	for i, l := range ls {
		out[i] = history.Label{Name: l.Name, Value: l.Value}
	}
	return out
}

// EventHistoryDamaged is emitted for every damaged history file the store
// moved aside.
const EventHistoryDamaged = "history_damaged"

// OpenHistory opens the host's history store for settings m, under the
// state directory. A damaged file is moved aside and the store opens
// without it: each one is logged and emitted as an event. The store lives
// as long as the daemon process (every Append is on disk when it returns).
func OpenHistory(deps core.Deps, m api.Monitoring) (*history.Store, error) {
	deps = deps.WithDefaults()
	m = (&m).WithDefaults()
	interval, _, raw, minute, hour, err := m.Durations()
	if err != nil {
		return nil, fmt.Errorf("monitoring settings: %w", err)
	}
	p, log := deps.Paths, deps.Logger
	damaged := func(q history.Quarantined) {
		log.Error("history file damaged: moved aside", "file", q.File, "moved_to", q.MovedTo, "reason", q.Reason)
		_ = core.Emit(p, core.Event{Kind: EventHistoryDamaged, Message: q.File + ": " + q.Reason})
	}
	dir := filepath.Join(p.StateDir, "history")
	if err := core.EnsurePrivateDir(dir); err != nil {
		return nil, err
	}
	st, rec, err := history.Open(dir, history.Options{Interval: interval, Raw: raw, Minute: minute, Hour: hour,
		MaxSeries: m.MaxSeries, OnQuarantine: damaged})
	if err != nil {
		return nil, fmt.Errorf("open history %s: %w", dir, err)
	}
	for _, q := range rec.Quarantined {
		damaged(q)
	}
	if rec.WALTornBytes > 0 {
		log.Warn("history: a torn last write was cut off (power cut?)", "bytes", rec.WALTornBytes)
	}
	return st, nil
}
