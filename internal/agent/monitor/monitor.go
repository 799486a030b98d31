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
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Store is where each collection is kept: the history.
type Store interface {
	Append(t time.Time, samples []collect.Sample) error
}

// AfterCollect is called with every collection, right after it is stored
// (the alert rule engine evaluates there).
type AfterCollect func(ctx context.Context, t time.Time, samples []collect.Sample)

// Monitor is the monitoring component.
type Monitor struct {
	deps     core.Deps
	cfg      api.Monitoring
	interval time.Duration
	set      *collect.Set
	store    Store
	history  History
	after    []AfterCollect
	hostname string
	version  string

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
	// Store keeps the history and History reads it; nil keeps none.
	Store   Store
	History History
	// After are called with every collection.
	After []AfterCollect
	// Version is the agent's, for the status page.
	Version string
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
	return &Monitor{deps: deps, cfg: m, interval: interval, set: set, store: opt.Store, history: opt.History, after: opt.After, hostname: host, version: opt.Version}, nil
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

// Run collects every interval, on the interval's boundaries, until ctx ends.
func (m *Monitor) Run(ctx context.Context, rt *core.Runtime) error {
	for {
		now := m.deps.Now()
		next := now.Truncate(m.interval).Add(m.interval)
		if m.lastCollection().IsZero() {
			next = now // collect at once after a start
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(next.Sub(now)):
		}
		rt.Report(m.collectOnce(ctx, rt.Metrics))
	}
}

func (m *Monitor) lastCollection() time.Time {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.lastAt
}

// collectOnce makes one collection: the host's, cached for /metrics; with
// the daemon's own metrics, stored and handed on.
func (m *Monitor) collectOnce(ctx context.Context, daemon prometheus.Gatherer) error {
	fams, err := m.set.Gather(ctx)
	if err != nil {
		return err // ctx ended
	}
	t := m.deps.Now()
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
	if m.store != nil {
		if storeErr = m.store.Append(t, samples); storeErr != nil {
			errs = append(errs, fmt.Errorf("store the collection: %w", storeErr))
		}
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
