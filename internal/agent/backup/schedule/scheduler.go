package schedule

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/cron"
)

// backupRescan is the longest the scheduler sleeps without looking at the
// schedules. Changes and due times wake it sooner; this only bounds what a
// lost notification or a jump of the wall clock can delay.
const backupRescan = time.Minute

// Scheduler is the daemon component that runs due backups. It looks at
// every schedule when the configuration changes, when the next scheduled
// time comes and when a run ends; it runs a schedule that is due (one
// catch-up run after downtime, never two runs of one schedule at once) after
// its random delay. It exports each schedule's freshness.
type Scheduler struct {
	deps        core.Deps
	lastSuccess *prometheus.Desc
	ended       chan struct{} // a run ended: what waited for it may be due now

	mu      sync.Mutex
	running map[string]bool // Outlives Run: runs go on while Run restarts.

	known map[string]string // Schedule name → digest of its file as last logged; Run's goroutine only.
}

var _ core.Component = (*Scheduler)(nil)

func NewScheduler(deps core.Deps) *Scheduler {
	return &Scheduler{
		deps: deps.WithDefaults(),
		lastSuccess: prometheus.NewDesc("steward_backup_last_success_timestamp_seconds",
			"When the schedule's last backup succeeded (0: never).", []string{"schedule"}, nil),
		ended:   make(chan struct{}, 1),
		running: map[string]bool{},
		known:   map[string]string{},
	}
}

func (s *Scheduler) Name() string { return "backup_scheduler" }

// Run starts due backups until ctx ends. Runs in progress then go on under
// the daemon's shutdown grace period; runs still waiting for their random
// delay are dropped.
func (s *Scheduler) Run(ctx context.Context, rt *core.Runtime) error {
	wake := time.NewTimer(0)
	defer wake.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-rt.Changed:
		case <-s.ended:
		case <-wake.C:
		}
		next, err := s.startDue(ctx, rt)
		rt.Report(err)
		wake.Reset(s.sleep(next))
	}
}

// sleep returns how long to wait for next, the earliest scheduled time.
func (s *Scheduler) sleep(next time.Time) time.Duration {
	if next.IsZero() {
		return backupRescan
	}
	// A little past the minute, so the wall clock has reached it too.
	return min(max(next.Sub(s.deps.Now()), 0)+5*time.Millisecond, backupRescan)
}

// startDue starts every schedule that is due and returns the earliest time
// a schedule is due next (zero when none ever is). The error names the
// schedules that cannot be read: they do not run.
func (s *Scheduler) startDue(ctx context.Context, rt *core.Runtime) (time.Time, error) {
	p := s.deps.Paths
	entries, err := os.ReadDir(ConfigDir(p))
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("list backup schedules: %w", err)
	}
	now := s.deps.Now()
	var next time.Time
	var errs []error
	seen := map[string]bool{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		seen[name] = true
		cfg, raw, err := Load(p, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("read backup schedule %s: %w", name, err))
			continue
		}
		sched, err := cron.Parse(cfg.Schedule)
		if err != nil {
			errs = append(errs, fmt.Errorf("backup schedule %s: %w", name, err))
			continue
		}
		last := ReadRunStatus(p, name).LastRunAt
		if last.IsZero() {
			// Never ran: the first run is the first scheduled time after the schedule appeared.
			if info, err := e.Info(); err == nil {
				last = info.ModTime()
			}
		}
		due, catchUp, wake := cron.PlanRun(sched, last, now, 0, nil)
		if !wake.IsZero() && (next.IsZero() || wake.Before(next)) {
			next = wake
		}
		if sum := core.Digest(raw); s.known[name] != sum {
			s.known[name] = sum
			rt.Logger.Info("backup schedule read", "schedule", name, "due", due, "next_run", wake)
		}
		if due && s.claim(name) {
			s.start(ctx, rt, cfg, catchUp)
		}
	}
	for name := range s.known {
		if !seen[name] {
			delete(s.known, name)
			rt.Logger.Info("backup schedule removed", "schedule", name)
		}
	}
	return next, errors.Join(errs...)
}

// claim marks name as running and reports whether it was free.
func (s *Scheduler) claim(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[name] {
		return false
	}
	s.running[name] = true
	return true
}

// start runs one backup of cfg as the component's work, after its random
// delay, unless the daemon starts stopping first.
func (s *Scheduler) start(ctx context.Context, rt *core.Runtime, cfg api.BackupSchedule, catchUp bool) {
	var delay time.Duration
	if d, err := api.ParseDuration(cfg.RandomDelay); err == nil && cfg.RandomDelay != "" && d > 0 {
		delay = rand.N(d)
	}
	rt.Go(func(work context.Context) {
		defer s.runEnded(cfg.Name)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		if ctx.Err() != nil {
			return // stopping: no new work
		}
		if delay > 0 {
			// The schedule may have changed or gone while the run waited.
			fresh, _, err := Load(s.deps.Paths, cfg.Name)
			if err != nil {
				rt.Logger.Info("scheduled backup dropped: its schedule is gone or unreadable", "schedule", cfg.Name, "error", err)
				return
			}
			cfg = fresh
		}
		rt.Logger.Info("scheduled backup", "schedule", cfg.Name, "catch_up", catchUp)
		defer core.AllCPUs()() // compression and encryption use every CPU
		_, _ = Run(work, s.deps, cfg, api.Operator{LocalUser: "steward-agent daemon"})
	})
}

func (s *Scheduler) runEnded(name string) {
	s.mu.Lock()
	delete(s.running, name)
	s.mu.Unlock()
	select {
	case s.ended <- struct{}{}:
	default:
	}
}

// Describe implements prometheus.Collector.
func (s *Scheduler) Describe(ch chan<- *prometheus.Desc) { ch <- s.lastSuccess }

// Collect exports the freshness of every schedule, read when scraped.
func (s *Scheduler) Collect(ch chan<- prometheus.Metric) {
	p := s.deps.Paths
	entries, _ := os.ReadDir(ConfigDir(p))
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		var ts float64
		if st := ReadRunStatus(p, name); !st.LastSuccessAt.IsZero() {
			ts = float64(st.LastSuccessAt.Unix())
		}
		ch <- prometheus.MustNewConstMetric(s.lastSuccess, prometheus.GaugeValue, ts, name)
	}
}
