package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Collector is one source of metrics, in the manner of node_exporter's
// collector registry.
type Collector interface {
	// Name is the collector's snake_case name, the value of the
	// "collector" label on steward_collector_success. It never changes.
	Name() string
	// Update sends the collector's current metrics to ch. The Set never
	// calls it again while a call is still running, so a collector may
	// keep state between calls (previous counters) without locking.
	// Update should return soon after ctx is done: the Set stops waiting
	// at the collector's timeout, discards what it sent and reports the
	// collection as failed.
	Update(ctx context.Context, ch chan<- prometheus.Metric) error
}

// Defaults for Config's zero values.
const (
	// DefaultInterval is how often the daemon is expected to call Gather.
	DefaultInterval = 10 * time.Second
	// DefaultTimeout bounds one collector's Update in one collection.
	DefaultTimeout = 5 * time.Second
	// DefaultTextfileDir is where node_exporter-format *.prom files are read from.
	DefaultTextfileDir = api.TextfileDir
	// DefaultTextfileMaxAge is how old a textfile may be before its samples
	// count as no data, unless the file declares its own freshness
	// (api.DefaultTextfileMaxAge, which steward_host's monitoring block
	// passes when it sets none).
	DefaultTextfileMaxAge = 15 * time.Minute
)

// Config selects what a Set collects and from where. Zero values take the
// defaults above; the roots exist so that tests read a fixture tree.
type Config struct {
	// ProcRoot, SysRoot and RootFS are the host's /proc, /sys and root
	// file system ("/proc", "/sys", "/" when empty).
	ProcRoot, SysRoot, RootFS string
	// Units are the systemd units whose state is reported (node_systemd_unit_state).
	// A name without a unit type suffix means a service, as for systemctl.
	Units []string
	// Systemctl is the systemctl binary ("systemctl", looked up in PATH, when empty).
	Systemctl string
	// TextfileDir holds *.prom files in node_exporter's textfile format.
	TextfileDir string
	// TextfileMaxAge is the freshness of a textfile that declares none.
	TextfileMaxAge time.Duration
	// Commands are the custom metric commands (steward_custom_metric).
	Commands []Command
	// Timeout bounds each collector's Update in each collection; a
	// command's own Timeout replaces it for that command.
	Timeout time.Duration
	// Log, when set, hears when a collector starts or stops failing.
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	if c.SysRoot == "" {
		c.SysRoot = "/sys"
	}
	if c.RootFS == "" {
		c.RootFS = "/"
	}
	if c.Systemctl == "" {
		c.Systemctl = "systemctl"
	}
	if c.TextfileDir == "" {
		c.TextfileDir = DefaultTextfileDir
	}
	if c.TextfileMaxAge <= 0 {
		c.TextfileMaxAge = DefaultTextfileMaxAge
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// CollectorStatus is how one collector fared in the last collection, for
// the status page and for alert rules.
type CollectorStatus struct {
	Name     string
	OK       bool
	Error    string        // empty when OK
	Duration time.Duration // how long the last Update took (its timeout when it hung)
	Time     time.Time     // when the last collection ended; zero before the first
	Series   int           // how many series of the collector the last collection served
}

// Set is the registry of collectors that one Gather runs.
type Set struct {
	gatherMu sync.Mutex // one collection at a time; guards entries
	entries  []*entry
	log      *slog.Logger
	timeout  time.Duration

	statusMu sync.Mutex
	status   []CollectorStatus
}

// entry is one collector and what the Set keeps for it between collections.
type entry struct {
	c       Collector
	timeout time.Duration
	// running is set while an Update is in flight; an Update that
	// outlived its timeout keeps it set, and the collector is skipped
	// until that call returns, so a hung collector costs one goroutine,
	// not one per interval.
	running atomic.Bool
	// reg turns the collector's prometheus.Metric values into checked,
	// sorted families; replay feeds it the metrics of one Update.
	reg    *prometheus.Registry
	replay *replayCollector
}

// timeoutCollector is implemented by collectors that carry their own
// timeout (custom metric commands).
type timeoutCollector interface {
	timeout() time.Duration
}

// partialError is an Update error that keeps what the collector sent: the
// textfile collector reports a bad file this way and still serves the
// good ones.
type partialError struct{ error }

func (e partialError) Unwrap() error { return e.error }

// replayCollector hands a registry the metrics one Update sent. It
// describes nothing, so the registry takes it as unchecked and checks each
// collected metric instead.
type replayCollector struct{ metrics []prometheus.Metric }

func (*replayCollector) Describe(chan<- *prometheus.Desc) {}

func (r *replayCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range r.metrics {
		ch <- m
	}
}

// The Set's own families, which no collector may provide.
const (
	successName  = "steward_collector_success"
	durationName = "steward_collector_duration_seconds"
)

// New returns the Set of the built-in collectors for cfg (those of this
// platform), then extra, then the textfile collector and one collector per
// custom command. When two collectors provide a family of the same name,
// the earlier one keeps it, so a textfile or a command cannot displace a
// host metric.
func New(cfg Config, extra ...Collector) (*Set, error) {
	cfg = cfg.withDefaults()
	var cs []Collector
	builtins, err := builtinCollectors(cfg)
	if err != nil {
		return nil, err
	}
	cs = append(cs, builtins...)
	cs = append(cs, extra...)
	cs = append(cs, newTextfileCollector(cfg.TextfileDir, cfg.TextfileMaxAge))
	for _, cmd := range cfg.Commands {
		c, err := newCommandCollector(cmd, cfg.Timeout)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return newSet(cs, cfg.Timeout, cfg.Log)
}

func newSet(cs []Collector, timeout time.Duration, log *slog.Logger) (*Set, error) {
	s := &Set{log: log, timeout: timeout}
	seen := map[string]bool{}
	for _, c := range cs {
		name := c.Name()
		if !isSnakeCase(name) {
			return nil, fmt.Errorf("add collector %q: name is not snake_case", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("add collector %q: name already taken", name)
		}
		seen[name] = true
		e, err := newEntry(c, timeout)
		if err != nil {
			return nil, err
		}
		s.entries = append(s.entries, e)
		s.status = append(s.status, CollectorStatus{Name: name})
	}
	return s, nil
}

func newEntry(c Collector, timeout time.Duration) (*entry, error) {
	e := &entry{c: c, timeout: timeout, reg: prometheus.NewRegistry(), replay: &replayCollector{}}
	if tc, ok := c.(timeoutCollector); ok {
		e.timeout = tc.timeout()
	}
	if err := e.reg.Register(e.replay); err != nil {
		return nil, fmt.Errorf("add collector %q: %w", c.Name(), err)
	}
	return e, nil
}

// SetCommands replaces the custom metric commands (steward_custom_metric
// objects changed), between two collections. A command that did not change
// keeps its collector, so one still running from the last collection is
// not started twice; the other collectors keep their state.
func (s *Set) SetCommands(cmds []Command) error {
	s.gatherMu.Lock()
	defer s.gatherMu.Unlock()
	old := map[string]*entry{}
	var kept []*entry
	for _, e := range s.entries {
		if cc, ok := e.c.(*commandCollector); ok {
			old[cc.cmd.key()] = e
			continue
		}
		kept = append(kept, e)
	}
	for _, cmd := range cmds {
		if e, ok := old[cmd.key()]; ok {
			kept = append(kept, e)
			continue
		}
		c, err := newCommandCollector(cmd, s.timeout)
		if err != nil {
			return err
		}
		e, err := newEntry(c, s.timeout)
		if err != nil {
			return err
		}
		kept = append(kept, e)
	}
	seen := map[string]bool{}
	for _, e := range kept {
		if seen[e.c.Name()] {
			return fmt.Errorf("add collector %q: name already taken", e.c.Name())
		}
		seen[e.c.Name()] = true
	}
	s.entries = kept
	s.statusMu.Lock()
	byName := map[string]CollectorStatus{}
	for _, st := range s.status {
		byName[st.Name] = st
	}
	s.status = s.status[:0]
	for _, e := range kept {
		st, ok := byName[e.c.Name()]
		if !ok {
			st = CollectorStatus{Name: e.c.Name()}
		}
		s.status = append(s.status, st)
	}
	s.statusMu.Unlock()
	return nil
}

// isSnakeCase reports whether s is a lower-case metric-name-safe word.
func isSnakeCase(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// result is one collector's part of one collection.
type result struct {
	families []*dto.MetricFamily
	err      error
	duration time.Duration
	series   int // in the families Gather kept
}

// Gather runs one collection: every collector concurrently, each bounded
// by its timeout, and returns their families sorted by name, with
// steward_collector_success{collector} and
// steward_collector_duration_seconds{collector} added. A collector that
// fails, panics or hangs contributes nothing to this collection (its
// metrics are all or nothing) and never delays the others past its
// timeout; its failure shows in those two families and in Status, not in
// Gather's error, which is only ctx's when ctx ended first.
func (s *Set) Gather(ctx context.Context) ([]*dto.MetricFamily, error) {
	s.gatherMu.Lock()
	defer s.gatherMu.Unlock()

	results := make([]result, len(s.entries))
	var wg sync.WaitGroup
	for i, e := range s.entries {
		wg.Go(func() { results[i] = e.collect(ctx) })
	}
	wg.Wait()
	end := time.Now()

	owner := map[string]string{successName: "", durationName: ""}
	var out []*dto.MetricFamily
	for i, e := range s.entries {
		r := &results[i]
		name := e.c.Name()
		for _, f := range r.families {
			if prev, taken := owner[f.GetName()]; taken {
				r.err = errors.Join(r.err, fmt.Errorf("metric family %s is already provided by %s, dropped", f.GetName(), providerName(prev)))
				continue
			}
			owner[f.GetName()] = name
			out = append(out, f)
			r.series += len(f.Metric)
		}
	}
	out = append(out, s.selfFamilies(results)...)
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int {
		switch {
		case a.GetName() < b.GetName():
			return -1
		case a.GetName() > b.GetName():
			return 1
		}
		return 0
	})
	s.record(results, end)
	return out, ctx.Err()
}

func providerName(collector string) string {
	if collector == "" {
		return "the collector set"
	}
	return "collector " + collector
}

// collect runs one Update of e bounded by its timeout.
func (e *entry) collect(ctx context.Context) result {
	if !e.running.CompareAndSwap(false, true) {
		return result{err: errors.New("previous collection still running")}
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	start := time.Now()

	ch := make(chan prometheus.Metric, 64)
	done := make(chan error, 1)
	var metrics []prometheus.Metric
	drained := make(chan struct{})
	go func() {
		// Drain until Update returns, even after a timeout, so that a
		// late collector is never blocked on a send.
		for m := range ch {
			metrics = append(metrics, m)
		}
		close(drained)
	}()
	go func() {
		defer e.running.Store(false)
		defer close(ch)
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("collector panicked: %v", p)
			}
		}()
		done <- e.c.Update(ctx, ch)
	}()

	select {
	case err := <-done:
		<-drained
		r := result{duration: time.Since(start), err: err}
		if err == nil && ctx.Err() != nil {
			r.err = e.timeoutError(ctx)
		}
		var partial partialError
		if r.err != nil && !errors.As(r.err, &partial) {
			return r
		}
		e.replay.metrics = metrics
		fams, gerr := e.reg.Gather()
		e.replay.metrics = nil
		if gerr != nil {
			// A metric the registry refuses (a duplicate series, a label
			// value that is not UTF-8) voids the whole collection, as an
			// Update error does.
			return result{duration: r.duration, err: errors.Join(r.err, gerr)}
		}
		r.families = fams
		return r
	case <-ctx.Done():
		return result{duration: time.Since(start), err: e.timeoutError(ctx)}
	}
}

func (e *entry) timeoutError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s", e.timeout)
	}
	return ctx.Err()
}

// selfFamilies are steward_collector_success and _duration_seconds for
// the collection in results.
func (s *Set) selfFamilies(results []result) []*dto.MetricFamily {
	success := &dto.MetricFamily{
		Name: proto.String(successName),
		Help: proto.String("1 if the collector's last collection succeeded, 0 if it failed or timed out."),
		Type: dto.MetricType_GAUGE.Enum(),
	}
	duration := &dto.MetricFamily{
		Name: proto.String(durationName),
		Help: proto.String("How long the collector's last collection took."),
		Type: dto.MetricType_GAUGE.Enum(),
	}
	for i, e := range s.entries {
		label := []*dto.LabelPair{{Name: proto.String("collector"), Value: proto.String(e.c.Name())}}
		ok := 0.0
		if results[i].err == nil {
			ok = 1
		}
		success.Metric = append(success.Metric, &dto.Metric{Label: label, Gauge: &dto.Gauge{Value: proto.Float64(ok)}})
		duration.Metric = append(duration.Metric, &dto.Metric{Label: label, Gauge: &dto.Gauge{Value: proto.Float64(results[i].duration.Seconds())}})
	}
	slices.SortFunc(success.Metric, compareCollectorLabel)
	slices.SortFunc(duration.Metric, compareCollectorLabel)
	return []*dto.MetricFamily{success, duration}
}

func compareCollectorLabel(a, b *dto.Metric) int {
	x, y := a.Label[0].GetValue(), b.Label[0].GetValue()
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// record keeps results for Status and logs each change of a collector's health.
func (s *Set) record(results []result, end time.Time) {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	for i, r := range results {
		st := &s.status[i]
		wasOK, first := st.OK, st.Time.IsZero()
		st.OK, st.Error, st.Duration, st.Time, st.Series = r.err == nil, "", r.duration, end, r.series
		if r.err != nil {
			st.Error = r.err.Error()
		}
		if s.log == nil {
			continue
		}
		switch {
		case !st.OK && (wasOK || first):
			s.log.Warn("metric collector failing", "collector", st.Name, "err", st.Error)
		case st.OK && !wasOK && !first:
			s.log.Info("metric collector recovered", "collector", st.Name)
		}
	}
}

// Status is each collector's outcome in the last collection, in
// collection order.
func (s *Set) Status() []CollectorStatus {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	return slices.Clone(s.status)
}
