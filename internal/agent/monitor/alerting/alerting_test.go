package alerting

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/alert"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

const interval = 10 * time.Second

// hostWith lays out a host with channel "ops" (a webhook nobody serves:
// notifications stay queued) and rules.
func hostWith(t *testing.T, rules ...api.AlertRule) core.Paths {
	t.Helper()
	p := coretest.NewHost(t)
	writeSpec(t, p, api.NotificationChannelKind.Dir, "ops", api.NotificationChannel{Name: "ops", Type: api.ChannelWebhook,
		Webhook: &api.WebhookChannel{URL: "http://127.0.0.1:9/hook"}})
	for _, r := range rules {
		writeSpec(t, p, api.AlertRuleKind.Dir, r.Name, r)
	}
	return p
}

// A crossing of the threshold is in the channel's queue and in the
// engine's state file when AfterCollect returns, so a restart neither
// loses nor repeats it.
func TestAfterCollect_enqueuesThenSaves(t *testing.T) {
	t.Parallel()
	p := hostWith(t, api.AlertRule{Name: "load_high", Metric: "node_load1", Op: ">", Threshold: 4, Channels: []string{"ops"}})
	c := newClock()
	a := newAlerting(t, c, nil, p)
	collectAt(t, a, nil, c.Now(), sample("node_load1", 1))
	if q := queued(t, p); len(q) != 0 {
		t.Fatalf("below the threshold: queued %+v", q)
	}
	collectAt(t, a, nil, c.Add(interval), sample("node_load1", 9))
	q := queued(t, p)
	if len(q) != 1 || len(q[0].Alerts) != 1 || q[0].Alerts[0].State != api.AlertFiring || q[0].HostID != coretest.MachineID {
		t.Fatalf("queued %+v, want one firing notification from host %s", q, coretest.MachineID)
	}

	// A new engine over the same state: the alert fires and was told.
	b, err := alert.New(alert.Config{StateDir: filepath.Join(p.StateDir, "alerts"), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	as := b.Alerts()
	if len(as) != 1 || as[0].State != api.AlertFiring || !slices.Equal(as[0].Notified, []string{"ops"}) {
		t.Fatalf("saved state: %+v, want load_high firing, notified to ops", as)
	}
	if err := a.alive(); err != nil {
		t.Errorf("alive right after an evaluation: %v", err)
	}
}

// The source marks a series the history knows but this collection lacks
// as stale, so a rule with no_data = "alert" fires for it; a window reads
// exactly its series' points, the current one included.
func TestSource_staleSeriesAndWindows(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	hist := openHistory(t, p)
	c := newClock()
	a := newAlerting(t, c, hist, p)
	// Collections 6 s into their interval: the store rounds their times up.
	at := c.Add(6 * time.Second)
	for i := range 4 {
		collectAt(t, a, hist, at, sample("queue_depth", float64(i+1), "queue", "a"), sample("queue_depth", 100, "queue", "a", "shard", "2"),
			sample("queue_depth", 7, "queue", "b"))
		at = c.Add(interval)
	}
	// This collection lacks queue b (its textfile went stale).
	hs := historySamples(sample("queue_depth", 5, "queue", "a"), sample("queue_depth", 100, "queue", "a", "shard", "2"))
	if err := hist.Append(at, hs); err != nil {
		t.Fatal(err)
	}
	a.src.reset([]collectSample{sample("queue_depth", 5, "queue", "a"), sample("queue_depth", 100, "queue", "a", "shard", "2")}, hist)

	latest := a.src.Latest("queue_depth")
	got := map[string]bool{}
	for _, s := range latest {
		got[labelString(s.Labels)] = s.Stale
	}
	want := map[string]bool{`queue=a`: false, `queue=a,shard=2`: false, `queue=b`: true}
	if len(got) != len(want) {
		t.Fatalf("Latest: %+v, want %v (label set → stale)", latest, want)
	}
	for k, v := range want {
		if s, ok := got[k]; !ok || s != v {
			t.Fatalf("Latest: %+v, want %v (label set → stale)", latest, want)
		}
	}
	var a1 alert.Series
	for _, s := range latest {
		if labelString(s.Labels) == "queue=a" {
			a1 = s
		}
	}
	pts := a.src.Window("queue_depth", a1, at.Add(-3*interval), at, nil)
	var vals []float64
	for _, pt := range pts {
		vals = append(vals, pt.Value)
	}
	if !slices.Equal(vals, []float64{3, 4, 5}) {
		t.Fatalf("window of 3 intervals ending at the collection: %v, want [3 4 5] (the series without shard, current sample included)", vals)
	}
}

// A mute requested by Steward's own change (core.RequestMute) holds back
// the opted-in rules' notifications and no others, and is taken once.
func TestMuteRequests_muteOptedInRules(t *testing.T) {
	t.Parallel()
	p := hostWith(t,
		api.AlertRule{Name: "quiet", Metric: "node_load1", Op: ">", Threshold: 4, Channels: []string{"ops"}, MuteDuringChanges: true},
		api.AlertRule{Name: "loud", Metric: "node_load1", Op: ">", Threshold: 4, Channels: []string{"ops"}})
	c := newClock()
	a := newAlerting(t, c, nil, p)
	if err := core.RequestMute(p, c.Now().Add(time.Minute), "agent install"); err != nil {
		t.Fatal(err)
	}
	collectAt(t, a, nil, c.Add(interval), sample("node_load1", 9))
	if until, reason := a.engine.Muted(); !until.Equal(c.Now().Add(-interval).Add(time.Minute)) || reason != "agent install" {
		t.Fatalf("Muted() = %s, %q; want the requested mute", until, reason)
	}
	if entries, _ := os.ReadDir(p.MuteRequestDir()); len(entries) != 0 {
		t.Errorf("mute request left behind: %v", entries)
	}
	var rules []string
	for _, n := range queued(t, p) {
		for _, al := range n.Alerts {
			rules = append(rules, al.Rule)
		}
	}
	if !slices.Equal(rules, []string{"loud"}) {
		t.Fatalf("notified during the mute: %v, want only loud", rules)
	}
	// Once the mute is over, the held-back alert goes out.
	collectAt(t, a, nil, c.Add(time.Minute), sample("node_load1", 9))
	rules = nil
	for _, n := range queued(t, p) {
		for _, al := range n.Alerts {
			rules = append(rules, al.Rule)
		}
	}
	if !slices.Contains(rules, "quiet") {
		t.Fatalf("after the mute: %v, want quiet notified", rules)
	}
}

// Alerting counts as dead three intervals after its last evaluation: the
// notifier then withholds its heartbeats.
func TestAlive_staleAfterThreeIntervals(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	c := newClock()
	a := newAlerting(t, c, nil, p)
	if err := a.alive(); err == nil {
		t.Fatal("alive before any evaluation")
	}
	collectAt(t, a, nil, c.Now())
	c.Add(3 * interval)
	if err := a.alive(); err != nil {
		t.Fatalf("alive 3 intervals after an evaluation: %v", err)
	}
	c.Add(time.Second)
	if err := a.alive(); err == nil || !strings.Contains(err.Error(), "last evaluated 31s ago") {
		t.Fatalf("alive 31s after the evaluation: %v, want it stale", err)
	}
}

// A rule file that does not parse is reported; the others load.
func TestReload_reportsBadFilesKeepsOthers(t *testing.T) {
	t.Parallel()
	p := hostWith(t, api.AlertRule{Name: "load_high", Metric: "node_load1", Op: ">", Threshold: 4})
	if err := os.WriteFile(p.ObjectFile(api.AlertRuleKind.Dir, "broken"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClock()
	a, err := New(core.Deps{Paths: p, Now: c.Now}, api.Monitoring{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = a.reload()
	if err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Fatalf("reload: %v, want broken.json reported", err)
	}
	collectAt(t, a, nil, c.Now(), sample("node_load1", 9))
	if st := a.engine.RuleStatus("load_high"); len(st.Alerts) != 1 {
		t.Fatalf("load_high beside a broken file: %+v, want it evaluated", st)
	}
	if ps := a.problems(); len(ps) == 0 || !strings.Contains(ps[0], "broken.json") {
		t.Errorf("problems: %v", ps)
	}
}

// The first collection of a starting daemon runs before the components'
// Run: rules and channels are loaded by New, so an alert firing then is
// queued, not lost.
func TestNew_loadsConfigurationBeforeTheFirstCollection(t *testing.T) {
	t.Parallel()
	p := hostWith(t, api.AlertRule{Name: "load_high", Metric: "node_load1", Op: ">", Threshold: 4, Channels: []string{"ops"}})
	c := newClock()
	a, err := New(core.Deps{Paths: p, Now: c.Now}, api.Monitoring{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	collectAt(t, a, nil, c.Now(), sample("node_load1", 9))
	if q := queued(t, p); len(q) != 1 || q[0].Alerts[0].Rule != "load_high" {
		t.Fatalf("queued at the first collection: %+v, want load_high's firing", q)
	}
}

// A host whose machine id is not set yet (first boot) still alerts.
func TestNew_withoutHostID(t *testing.T) {
	t.Parallel()
	p := hostWith(t, api.AlertRule{Name: "load_high", Metric: "node_load1", Op: ">", Threshold: 4, Channels: []string{"ops"}})
	if err := os.WriteFile(p.MachineID, []byte("uninitialized\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newClock()
	a, err := New(core.Deps{Paths: p, Now: c.Now}, api.Monitoring{}, nil)
	if err != nil {
		t.Fatalf("New without a machine id: %v", err)
	}
	collectAt(t, a, nil, c.Now(), sample("node_load1", 9))
	if q := queued(t, p); len(q) != 1 {
		t.Fatalf("queued without a machine id: %+v, want the firing notification", q)
	}
}
