package collect

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// fakeCollector sends one gauge per name in gauges, then does what its
// fields say.
type fakeCollector struct {
	name   string
	gauges []string
	err    error
	panic  bool
	block  chan struct{} // when set, Update waits for it, ignoring ctx
	calls  atomic.Int32
}

func (f *fakeCollector) Name() string { return f.name }

func (f *fakeCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	f.calls.Add(1)
	for _, g := range f.gauges {
		ch <- constMetric(prometheus.NewDesc(g, "Test gauge "+g+".", nil, nil), prometheus.GaugeValue, 1)
	}
	if f.block != nil {
		<-f.block
	}
	if f.panic {
		panic("collector bug")
	}
	return f.err
}

func TestGather_hangingCollectorDoesNotHoldBackOthers(t *testing.T) {
	t.Parallel()
	hung := &fakeCollector{name: "hung", gauges: []string{"hung_gauge"}, block: make(chan struct{})}
	defer close(hung.block)
	cfg := fixtureConfig(t)
	cfg.Timeout = 300 * time.Millisecond
	set := newFixtureSet(t, cfg, hung)

	start := time.Now()
	fams := gather(t, set)
	elapsed := time.Since(start)
	if elapsed > cfg.Timeout+time.Second {
		t.Errorf("Gather took %s with a %s timeout", elapsed, cfg.Timeout)
	}
	if value(t, fams, "steward_collector_success", "collector", "hung") != 0 {
		t.Error("hung collector reported as a success")
	}
	if len(series(fams, "hung_gauge")) != 0 {
		t.Error("a timed-out collector's metrics were served")
	}
	if st := statusOf(t, set, "hung"); st.OK || st.Error != "timed out after 300ms" {
		t.Errorf("hung status = %+v", st)
	}
	for _, st := range set.Status() {
		if st.Name == "hung" {
			continue
		}
		if !st.OK || st.Duration > cfg.Timeout/2 {
			t.Errorf("collector %s next to a hung one: %+v", st.Name, st)
		}
	}
	if value(t, fams, "node_load1") != fixtureLoad1(t) {
		t.Error("node_load1 missing next to a hung collector")
	}

	// While the first call is stuck the collector is not called again:
	// one stuck goroutine, not one per interval.
	fams = gather(t, set)
	if got := hung.calls.Load(); got != 1 {
		t.Errorf("hung collector called %d times", got)
	}
	if st := statusOf(t, set, "hung"); st.Error != "previous collection still running" {
		t.Errorf("second status = %+v", st)
	}
	if value(t, fams, "steward_collector_success", "collector", "cpu") != 1 {
		t.Error("cpu failed in the second collection")
	}
}

func fixtureLoadAvg(t *testing.T) loadAvg {
	t.Helper()
	la, err := parseLoadAvg(readFixture(t, "proc/loadavg"))
	if err != nil {
		t.Fatal(err)
	}
	return la
}

func fixtureLoad1(t *testing.T) float64 { return fixtureLoadAvg(t).Load1 }

func TestGather_hungCollectorIsCalledAgainOnceItReturns(t *testing.T) {
	t.Parallel()
	hung := &fakeCollector{name: "slow", gauges: []string{"slow_gauge"}, block: make(chan struct{})}
	set, err := newSet([]Collector{hung}, 100*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	gather(t, set)
	close(hung.block)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		fams := gather(t, set)
		if len(series(fams, "slow_gauge")) == 1 && value(t, fams, "steward_collector_success", "collector", "slow") == 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("collector never recovered: %+v", set.Status())
}

func TestGather_failingCollectorContributesNothing(t *testing.T) {
	t.Parallel()
	failing := &fakeCollector{name: "failing", gauges: []string{"half_gauge"}, err: errors.New("read /proc/foo: boom")}
	panicking := &fakeCollector{name: "panicking", gauges: []string{"panic_gauge"}, panic: true}
	badLabel := &badLabelCollector{}
	good := &fakeCollector{name: "good", gauges: []string{"good_gauge"}}
	set, err := newSet([]Collector{failing, panicking, badLabel, good}, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	fams := gather(t, set)
	for _, name := range []string{"half_gauge", "panic_gauge", "bad_label_gauge"} {
		if len(series(fams, name)) != 0 {
			t.Errorf("%s served from a failed collection", name)
		}
	}
	if value(t, fams, "good_gauge") != 1 || value(t, fams, "steward_collector_success", "collector", "good") != 1 {
		t.Error("good collector lost")
	}
	for name, want := range map[string]string{"failing": "read /proc/foo: boom", "panicking": "collector panicked: collector bug", "bad_label": "is not valid UTF-8"} {
		if value(t, fams, "steward_collector_success", "collector", name) != 0 {
			t.Errorf("%s reported as a success", name)
		}
		if st := statusOf(t, set, name); st.OK || !strings.Contains(st.Error, want) {
			t.Errorf("%s status = %+v, want an error with %q", name, st, want)
		}
	}
}

// badLabelCollector sends a label value that is not UTF-8, as a mount
// point can be.
type badLabelCollector struct{}

func (*badLabelCollector) Name() string { return "bad_label" }

func (*badLabelCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	d := prometheus.NewDesc("bad_label_gauge", "Test.", []string{"mountpoint"}, nil)
	ch <- constMetric(d, prometheus.GaugeValue, 1, "/mnt/\xff")
	return nil
}

func TestGather_firstCollectorKeepsAFamilyName(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t)
	impostor := &fakeCollector{name: "impostor", gauges: []string{"node_load1", "steward_collector_success", "impostor_own"}}
	set := newFixtureSet(t, cfg, impostor)
	fams := gather(t, set)
	if got := value(t, fams, "node_load1"); got != fixtureLoad1(t) {
		t.Errorf("node_load1 = %v, the impostor's value", got)
	}
	if value(t, fams, "impostor_own") != 1 {
		t.Error("the impostor's own family was dropped too")
	}
	st := statusOf(t, set, "impostor")
	if st.OK || !strings.Contains(st.Error, "node_load1 is already provided by collector loadavg") || !strings.Contains(st.Error, "steward_collector_success is already provided by the collector set") {
		t.Errorf("impostor status = %+v", st)
	}
}

func TestNew_rejectsDuplicateCollectorNames(t *testing.T) {
	t.Parallel()
	if _, err := New(fixtureConfig(t), &fakeCollector{name: "cpu"}); err == nil || !strings.Contains(err.Error(), `"cpu"`) {
		t.Errorf("New with a second cpu collector: %v", err)
	}
	if _, err := New(fixtureConfig(t), &fakeCollector{name: "Bad Name"}); err == nil {
		t.Error("New accepted a collector name that is not snake_case")
	}
}

func TestGather_cancelledContext(t *testing.T) {
	t.Parallel()
	set, err := newSet([]Collector{&fakeCollector{name: "a", gauges: []string{"a_gauge"}}}, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := set.Gather(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Gather with a cancelled context: %v", err)
	}
}

// The package's defaults are the contract's, so that a host whose
// monitoring block sets nothing behaves as one that sets the defaults.
func TestDefaults_matchAPI(t *testing.T) {
	t.Parallel()
	d, err := time.ParseDuration(api.DefaultTextfileMaxAge)
	if err != nil || d != DefaultTextfileMaxAge {
		t.Errorf("DefaultTextfileMaxAge %s, api says %s", DefaultTextfileMaxAge, api.DefaultTextfileMaxAge)
	}
	if d, err := time.ParseDuration(api.DefaultMonitoringInterval); err != nil || d != DefaultInterval {
		t.Errorf("DefaultInterval %s, api says %s", DefaultInterval, api.DefaultMonitoringInterval)
	}
}
