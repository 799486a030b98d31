package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/alert"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/collect"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/history"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/notify"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/page"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// staleEvaluations is how many intervals may pass without an evaluation
// before alerting counts as dead (the heartbeat is withheld).
const staleEvaluations = 3

// Alerting is the daemon component that owns the rule engine: it loads
// rules and silences, takes mute requests and evaluates after every
// collection. Its notifier is a component of its own (Notifier).
type Alerting struct {
	deps     core.Deps
	interval time.Duration
	hist     *history.Store
	engine   *alert.Engine
	notifier *notify.Notifier
	log      *slog.Logger

	mu             sync.Mutex
	lastEval       time.Time
	configProblems []string // rule and silence files that did not load
	src            source   // reused between evaluations; only AfterCollect touches it
}

var (
	_ core.Component = (*Alerting)(nil)
	_ core.Routed    = (*Alerting)(nil)
)

// New builds the engine (state under <StateDir>/alerts) and the notifier
// (state under <StateDir>/notify) for monitoring settings m; hist is the
// history the rules' windows read (nil: windows hold only the current
// sample).
func New(deps core.Deps, m api.Monitoring, hist *history.Store) (*Alerting, error) {
	deps = deps.WithDefaults()
	m = (&m).WithDefaults()
	interval, _, _, _, _, err := m.Durations()
	if err != nil {
		return nil, fmt.Errorf("monitoring settings: %w", err)
	}
	host, _ := os.Hostname()
	// A host without a valid machine id (first boot) still alerts; its
	// notifications then carry no host_id, and /healthz reports the id.
	hostID, err := core.ReadHostID(deps.Paths)
	if err != nil {
		deps.Logger.Warn("alerts without a host id", "error", err)
	}
	a := &Alerting{deps: deps, interval: interval, hist: hist, log: deps.Logger.With("component", "alerting")}
	a.src.step = interval
	a.engine, err = alert.New(alert.Config{StateDir: filepath.Join(deps.Paths.StateDir, "alerts"), Clock: deps.Now,
		Logger: a.log, Host: host, HostID: hostID, Interval: interval})
	if err != nil {
		return nil, fmt.Errorf("start alert rule engine: %w", err)
	}
	a.notifier, err = notify.New(notify.Config{StateDir: filepath.Join(deps.Paths.StateDir, "notify"),
		Logger: deps.Logger.With("component", "notifier"), Host: host, HostID: hostID,
		Alive: a.alive, LoadChannels: a.loadChannels})
	if err != nil {
		return nil, fmt.Errorf("start notifier: %w", err)
	}
	if p := a.engine.Problem(); p != "" {
		a.log.Warn("alert state damaged: starting clean", "detail", p)
	}
	// Rules and channels are loaded now, not only when the components
	// start: the monitor collects at once when the daemon starts, and an
	// evaluation before the rules are in would be lost, a notification to
	// a channel not yet open dropped.
	if err := a.reload(); err != nil {
		a.log.Warn("alert rules and silences", "error", err)
	}
	specs, err := a.loadChannels()
	if serr := a.notifier.SetChannels(specs); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		a.log.Warn("notification channels", "error", err)
	}
	return a, nil
}

// Notifier is the notifier component, which the daemon runs beside a.
func (a *Alerting) Notifier() *notify.Notifier { return a.notifier }

// Name implements core.Component.
func (a *Alerting) Name() string { return "alerting" }

// Describe implements prometheus.Collector: the engine's health is the
// component's (steward_component_up).
func (a *Alerting) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (a *Alerting) Collect(chan<- prometheus.Metric) {}

// Run loads the rules and silences and takes pending mute requests when it
// starts and whenever the configuration changes, until ctx ends; then it
// writes the engine's state (timers included), so a restart resumes where
// it stopped.
func (a *Alerting) Run(ctx context.Context, rt *core.Runtime) error {
	a.takeMutes()
	rt.Report(a.reload())
	for {
		select {
		case <-ctx.Done():
			if err := a.engine.Close(); err != nil {
				return fmt.Errorf("save alert state: %w", err)
			}
			return nil
		case <-rt.Changed:
			rt.Report(a.reload())
		}
	}
}

// reload gives the engine the rules and silences on disk. A file that does
// not load is reported; the others apply.
func (a *Alerting) reload() error {
	p := a.deps.Paths
	rules, rerr := loadSpecs[api.AlertRule](filepath.Join(p.ConfigDir, api.AlertRuleKind.Dir))
	if err := a.engine.SetRules(rules); err != nil {
		rerr = errors.Join(rerr, err)
	}
	silences, serr := loadSpecs[api.Silence](filepath.Join(p.ConfigDir, api.SilenceKind.Dir))
	if err := a.engine.SetSilences(silences); err != nil {
		serr = errors.Join(serr, err)
	}
	err := errors.Join(rerr, serr)
	var problems []string
	if err != nil {
		problems = strings.Split(err.Error(), "\n")
	}
	a.mu.Lock()
	a.configProblems = problems
	a.mu.Unlock()
	return err
}

// loadChannels reads the channel specs for the notifier.
func (a *Alerting) loadChannels() ([]api.NotificationChannel, error) {
	return loadSpecs[api.NotificationChannel](filepath.Join(a.deps.Paths.ConfigDir, api.NotificationChannelKind.Dir))
}

// maxSpecBytes bounds one spec file.
const maxSpecBytes = 1 << 20

// loadSpecs reads every <dir>/*.json as an S. A file that cannot be read
// or parsed, or whose name is not its object's, is left out and reported;
// a missing dir holds no specs.
func loadSpecs[S api.Spec](dir string) ([]S, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []S
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		file := filepath.Join(dir, e.Name())
		fi, err := e.Info()
		if err == nil && fi.Size() > maxSpecBytes {
			err = fmt.Errorf("larger than %d bytes", maxSpecBytes)
		}
		var b []byte
		if err == nil {
			b, err = os.ReadFile(file)
		}
		var spec S
		if err == nil {
			err = json.Unmarshal(b, &spec)
		}
		if err == nil && spec.ObjectName() != name {
			err = fmt.Errorf("names %q, not %q", spec.ObjectName(), name)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("load %s: %w", file, err))
			continue
		}
		out = append(out, spec)
	}
	return out, errors.Join(errs...)
}

// takeMutes applies the mute requests Steward's own changes left.
func (a *Alerting) takeMutes() {
	reqs, err := core.TakeMuteRequests(a.deps.Paths)
	if err != nil {
		a.log.Warn("mute requests", "error", err)
	}
	for _, r := range reqs {
		a.engine.Mute(r.Until, r.Reason)
	}
}

// AfterCollect evaluates the rules against the collection made at t (its
// samples) and the history, enqueues every notification, and then saves
// the engine's state. It is a monitor.AfterCollect.
func (a *Alerting) AfterCollect(_ context.Context, t time.Time, samples []collect.Sample) {
	a.takeMutes()
	a.src.reset(samples, a.hist)
	ns, err := a.engine.Evaluate(t, &a.src)
	if err != nil {
		a.log.Error("save alert state before the evaluation", "error", err)
	}
	for _, n := range ns {
		if err := a.notifier.Enqueue(n.Channel, n); err != nil {
			// A rule naming a channel that does not exist (yet): its
			// alerts are in the history, the miss in the log.
			a.log.Warn("notification not queued", "channel", n.Channel, "alerts", len(n.Alerts), "error", err)
		}
	}
	if err := a.engine.Save(); err != nil {
		a.log.Error("save alert state", "error", err)
	}
	a.mu.Lock()
	a.lastEval = a.deps.Now()
	a.mu.Unlock()
}

// alive reports alerting dead when no evaluation ran for staleEvaluations
// intervals: the notifier then withholds its heartbeats, so the dead-man's
// switch fires for a host that runs but cannot alert.
func (a *Alerting) alive() error {
	a.mu.Lock()
	last := a.lastEval
	a.mu.Unlock()
	if last.IsZero() {
		return errors.New("alert rules not evaluated yet")
	}
	if age := a.deps.Now().Sub(last); age > staleEvaluations*a.interval {
		return fmt.Errorf("alert rules last evaluated %s ago (interval %s)", age.Round(time.Second), a.interval)
	}
	return nil
}

// problems lists what is wrong with the alerting configuration and state.
func (a *Alerting) problems() []string {
	a.mu.Lock()
	out := slices.Clone(a.configProblems)
	a.mu.Unlock()
	if p := a.engine.Problem(); p != "" {
		out = append(out, "alert state: "+p)
	}
	return out
}

// PageAlerts lists the alerts for the status page.
func (a *Alerting) PageAlerts() []page.AlertState {
	var out []page.AlertState
	for _, in := range a.engine.Alerts() {
		st := page.AlertState{Rule: in.Rule, Labels: api.AlertLabelsString(in.Labels), State: in.State,
			Value: strconv.FormatFloat(in.Value, 'g', 6, 64), Since: in.ActiveAt}
		switch in.State {
		case api.AlertFiring:
			st.Since = in.FiredAt
		case api.AlertResolved:
			st.Since = in.ResolvedAt
		}
		if in.NoData {
			st.Value = "no data"
		}
		switch {
		case len(in.Silenced) > 0:
			st.Held = "silenced by " + strings.Join(in.Silenced, ", ")
		case in.Muted:
			st.Held = "muted during Steward's changes"
		}
		out = append(out, st)
	}
	return out
}
