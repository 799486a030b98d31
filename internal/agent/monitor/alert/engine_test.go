package alert

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// stateRun feeds values one collection at a time and returns the rule's
// state after each, and every notification as channel:state at its time.
func stateRun(t *testing.T, r api.AlertRule, values ...float64) (states, sent []string) {
	t.Helper()
	h := newHarness(t, "", r)
	for _, v := range values {
		h.set("disk_used_percent", root, v)
		at := h.now.Sub(t0)
		for _, s := range sentStates(h.eval()) {
			sent = append(sent, at.String()+" "+s)
		}
		states = append(states, h.state(r.Name))
	}
	return states, sent
}

func TestEngine_transitions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", diskRule())
	var states []string
	for _, v := range []float64{50, 95, 95, 95, 95, 95, 50, 50} {
		h.set("disk_used_percent", root, v)
		h.eval()
		states = append(states, h.state("disk_full"))
	}
	want := []string{"inactive", "pending", "pending", "pending", "firing", "firing", "resolved", "resolved"}
	if d := cmp.Diff(want, states); d != "" {
		t.Errorf("states (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"inactive>pending", "pending>firing", "firing>resolved"}, transitions(h.e.History(api.AlertHistoryQuery{}))); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"ops:firing", "ops:resolved"}, sentStates(h.sent)); d != "" {
		t.Errorf("notifications (-want +got):\n%s", d)
	}
	// The firing notification is the hand-over the channels expect.
	n := h.sent[0]
	a := n.Alerts[0]
	if n.Host != "web1" || n.HostID != "abc123" || n.Channel != "ops" || n.IsRepeat ||
		a.Rule != "disk_full" || a.Value != 95 || a.Threshold != 90 || !a.StartsAt.Equal(t0.Add(4*step)) ||
		a.Fingerprint != api.AlertFingerprint("disk_full", a.Labels) {
		t.Errorf("firing notification = %+v", n)
	}
	wantLabels := map[string]string{"alertname": "disk_full", "severity": "critical", "host": "web1", "mountpoint": "/"}
	if d := cmp.Diff(wantLabels, a.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	r := h.sent[1].Alerts[0]
	if r.Fingerprint != a.Fingerprint || !r.EndsAt.Equal(t0.Add(6*step)) || r.Value != 50 {
		t.Errorf("resolve = %+v, want the firing alert's fingerprint, ends_at 60s, value 50", r)
	}
	// The history can be filtered by rule, state and time.
	got := h.e.History(api.AlertHistoryQuery{Rule: "disk_full", State: api.AlertFiring, Since: t0.Add(step)})
	if len(got) != 1 || !got[0].Time.Equal(t0.Add(4*step)) {
		t.Errorf("History(firing) = %+v", got)
	}
	if got := h.e.History(api.AlertHistoryQuery{Rule: "other"}); len(got) != 0 {
		t.Errorf("History(other rule) = %+v", got)
	}
}

func TestEngine_pendingEndsWhenConditionStops(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", diskRule())
	h.runDisk(root, 95, 95, 50)
	if got := h.state("disk_full"); got != "inactive" {
		t.Errorf("state = %s, want inactive", got)
	}
	if d := cmp.Diff([]string{"inactive>pending", "pending>inactive"}, transitions(h.e.History(api.AlertHistoryQuery{}))); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}
	if len(h.sent) != 0 {
		t.Errorf("sent %v for an alert that never fired", sentStates(h.sent))
	}
}

func TestEngine_forZeroFiresAtOnce(t *testing.T) {
	t.Parallel()
	r := diskRule()
	r.For = ""
	states, sent := stateRun(t, r, 50, 95)
	if d := cmp.Diff([]string{"inactive", "firing"}, states); d != "" {
		t.Errorf("states (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"10s ops:firing"}, sent); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
}

func TestEngine_keepFiringFor(t *testing.T) {
	t.Parallel()
	r := diskRule()
	r.For, r.KeepFiringFor = "", "20s"
	// Fires at 0s; stops holding at 10s; holds again at 20s (still firing,
	// the timer restarts); stops at 30s and stays off: resolves 20s later.
	states, sent := stateRun(t, r, 95, 50, 95, 50, 50, 50)
	want := []string{"firing", "firing", "firing", "firing", "firing", "resolved"}
	if d := cmp.Diff(want, states); d != "" {
		t.Errorf("states (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"0s ops:firing", "50s ops:resolved"}, sent); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
}

func TestEngine_hysteresis(t *testing.T) {
	t.Parallel()
	// A value hovering at the threshold: 91, 89, 91, 89, ... With a resolve
	// threshold of 80 that is one real crossing, so one notification; the
	// alert resolves once the value really drops, to 79.
	flapping := []float64{91, 89, 91, 89, 91, 89, 91, 89, 79}
	r := diskRule()
	r.For = ""
	r.ResolveThreshold = ptr(80.0)
	states, sent := stateRun(t, r, flapping...)
	if d := cmp.Diff([]string{"0s ops:firing", "1m20s ops:resolved"}, sent); d != "" {
		t.Errorf("with resolve_threshold, sent (-want +got):\n%s", d)
	}
	if states[7] != "firing" || states[8] != "resolved" {
		t.Errorf("states = %v, want firing until 79", states)
	}

	// Without hysteresis the same input pages four times: the baseline the
	// resolve threshold exists to prevent.
	_, sent = stateRun(t, diskRuleForZero(), flapping...)
	if n := strings.Count(strings.Join(sent, " "), "firing"); n != 4 {
		t.Errorf("without resolve_threshold: %d firing notifications, want 4 (sent %v)", n, sent)
	}
}

func diskRuleForZero() api.AlertRule {
	r := diskRule()
	r.For = ""
	return r
}

func TestEngine_clearFor(t *testing.T) {
	t.Parallel()
	r := diskRuleForZero()
	r.ResolveThreshold, r.ClearFor = ptr(80.0), "20s"
	// 79 at 10s starts clearing; 85 (in the band) at 20s breaks it; 79 from
	// 30s: cleared for 20s at 50s.
	states, sent := stateRun(t, r, 95, 79, 85, 79, 79, 79)
	want := []string{"firing", "firing", "firing", "firing", "firing", "resolved"}
	if d := cmp.Diff(want, states); d != "" {
		t.Errorf("states (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"0s ops:firing", "50s ops:resolved"}, sent); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
}

func TestEngine_noData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode  string
		gone  func(h *harness) // how the data goes away
		want  []string         // states: firing, then three collections without data, then data below the threshold
		sent  []string
		value bool // the no-data alert carries NoData
	}{
		{mode: "ok", gone: staleSeries, want: []string{"firing", "resolved", "resolved", "resolved", "resolved"},
			sent: []string{"ops:firing", "ops:resolved"}},
		{mode: "keep", gone: staleSeries, want: []string{"firing", "firing", "firing", "firing", "resolved"},
			sent: []string{"ops:firing", "ops:resolved"}},
		{mode: "alert", gone: staleSeries, want: []string{"firing", "firing", "firing", "firing", "resolved"},
			sent: []string{"ops:firing", "ops:resolved"}},
		// A series that vanishes from the source is no data too.
		{mode: "ok", gone: removedSeries, want: []string{"firing", "resolved", "inactive", "inactive", "inactive"},
			sent: []string{"ops:firing", "ops:resolved"}},
		{mode: "keep", gone: removedSeries, want: []string{"firing", "firing", "firing", "firing", "resolved"},
			sent: []string{"ops:firing", "ops:resolved"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			r := diskRuleForZero()
			r.NoData = tc.mode
			h := newHarness(t, "", r)
			h.set("disk_used_percent", root, 95)
			h.eval()
			states := []string{h.state("disk_full")}
			for range 3 {
				tc.gone(h)
				h.eval()
				states = append(states, h.state("disk_full"))
			}
			h.set("disk_used_percent", root, 50)
			h.eval()
			states = append(states, h.state("disk_full"))
			if d := cmp.Diff(tc.want, states); d != "" {
				t.Errorf("states (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.sent, sentStates(h.sent)); d != "" {
				t.Errorf("sent (-want +got):\n%s", d)
			}
		})
	}
}

func staleSeries(h *harness)   { h.src.stale("disk_used_percent", root) }
func removedSeries(h *harness) { h.src.remove("disk_used_percent", root) }

func TestEngine_noDataAlertFiresOnStaleInput(t *testing.T) {
	t.Parallel()
	// A textfile metric whose file went stale must page when the rule asks
	// for it (node_exporter#713), though its last value was fine.
	r := api.AlertRule{Name: "queue", Metric: "app_queue_length", Op: ">", Threshold: 100, For: "20s",
		NoData: "alert", Channels: []string{"ops"}, Annotations: map[string]string{"summary": "{{ if .NoData }}no data{{ else }}{{ .Value }}{{ end }}"}}
	h := newHarness(t, "", r)
	lbl := map[string]string{"queue": "mail"}
	h.set("app_queue_length", lbl, 5)
	h.eval()
	h.src.stale("app_queue_length", lbl)
	var states []string
	for range 3 {
		h.eval()
		states = append(states, h.state("queue"))
	}
	if d := cmp.Diff([]string{"pending", "pending", "firing"}, states); d != "" {
		t.Errorf("states (-want +got):\n%s", d)
	}
	if len(h.sent) != 1 || !h.sent[0].Alerts[0].NoData || h.sent[0].Alerts[0].Annotations["summary"] != "no data" ||
		h.sent[0].Alerts[0].Labels["queue"] != "mail" {
		t.Fatalf("sent %+v, want one no-data alert for queue=mail", h.sent)
	}
}

func TestEngine_noDataAlertWhenNothingMatches(t *testing.T) {
	t.Parallel()
	r := api.AlertRule{Name: "nginx_up", Metric: "nginx_up", Op: "==", Threshold: 0, NoData: "alert",
		Matchers: []api.LabelMatcher{{Label: "job", Op: "=", Value: "nginx"}}, Channels: []string{"ops"}}
	h := newHarness(t, "", r)
	h.eval()
	if len(h.sent) != 1 {
		t.Fatalf("sent %v, want one alert for a selector matching nothing", sentStates(h.sent))
	}
	a := h.sent[0].Alerts[0]
	if want := map[string]string{"alertname": "nginx_up", "job": "nginx", "host": "web1"}; !cmp.Equal(want, a.Labels) || !a.NoData {
		t.Errorf("alert = %+v, want the selector's equality labels and no_data", a)
	}
	// The series appears and is fine: the rule-level alert resolves.
	h.set("nginx_up", map[string]string{"job": "nginx"}, 1)
	h.eval()
	if d := cmp.Diff([]string{"ops:firing", "ops:resolved"}, sentStates(h.sent)); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
}

func TestEngine_absentRule(t *testing.T) {
	t.Parallel()
	r := api.AlertRule{Name: "no_heartbeat", Kind: "absent", Metric: "app_heartbeat",
		Matchers: []api.LabelMatcher{{Label: "app", Op: "=", Value: "billing"}}, For: "20s", Channels: []string{"ops"}}
	h := newHarness(t, "", r)
	lbl := map[string]string{"app": "billing"}
	h.set("app_heartbeat", lbl, 1)
	h.set("app_heartbeat", map[string]string{"app": "other"}, 1) // not selected
	h.eval()
	h.src.stale("app_heartbeat", lbl) // stale counts as absent
	var states []string
	for range 3 {
		h.eval()
		states = append(states, h.state("no_heartbeat"))
	}
	h.set("app_heartbeat", lbl, 1)
	h.eval()
	states = append(states, h.state("no_heartbeat"))
	if d := cmp.Diff([]string{"pending", "pending", "firing", "resolved"}, states); d != "" {
		t.Errorf("states (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"ops:firing", "ops:resolved"}, sentStates(h.sent)); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
	a := h.sent[0].Alerts[0]
	if a.Labels["app"] != "billing" || a.Annotations["summary"] != "no_heartbeat: no data on web1" {
		t.Errorf("absent alert = %+v", a)
	}
}

func TestEngine_templates(t *testing.T) {
	t.Parallel()
	r := diskRuleForZero()
	r.Labels = map[string]string{"team": "storage", "mount": "{{ .Labels.mountpoint }}"}
	r.Annotations = map[string]string{
		"summary":     `{{ .Labels.mount }} on {{ .Host }} is {{ printf "%.1f" .Value }}% full (threshold {{ .Threshold }})`,
		"description": `{{ .Rule }} {{ .Severity }} {{ .Labels.alertname }} {{ .HostID }} {{ .Labels.missing }}|`,
	}
	h := newHarness(t, "", r)
	h.runDisk(root, 93.25)
	a := h.sent[0].Alerts[0]
	if a.Labels["team"] != "storage" || a.Labels["mount"] != "/" {
		t.Errorf("labels = %v", a.Labels)
	}
	want := map[string]string{
		"summary":     "/ on web1 is 93.2% full (threshold 90)",
		"description": "disk_full critical disk_full abc123 |",
	}
	if d := cmp.Diff(want, a.Annotations); d != "" {
		t.Errorf("annotations (-want +got):\n%s", d)
	}
}

func TestEngine_aggregations(t *testing.T) {
	t.Parallel()
	// One point every 10 s; the window of 30 s holds the last three.
	counter := []float64{100, 110, 130, 5, 25} // a reset to 0 before 5
	for _, tc := range []struct {
		agg  string
		want float64
	}{
		{"avg", (130 + 5 + 25) / 3.0}, {"min", 5}, {"max", 130}, {"last", 25},
		{"increase", 5 + 20}, {"rate", 25.0 / 20},
	} {
		t.Run(tc.agg, func(t *testing.T) {
			t.Parallel()
			r := api.AlertRule{Name: "agg", Metric: "m", Aggregation: tc.agg, Window: "30s", Op: ">=", Threshold: -1e9}
			h := newHarness(t, "", r)
			for _, v := range counter {
				h.set("m", nil, v)
				h.now = h.now.Add(step)
			}
			h.now = h.now.Add(-step)
			h.eval()
			obs := h.e.RuleStatus("agg")
			if len(obs.Alerts) != 1 || obs.Alerts[0].Value != tc.want {
				t.Errorf("%s = %+v, want value %g", tc.agg, obs.Alerts, tc.want)
			}
		})
	}
}

func TestEngine_builtinKinds(t *testing.T) {
	t.Parallel()
	rules := []api.AlertRule{
		{Name: "nginx_failed", Kind: "unit_failed", Unit: "nginx.service", Channels: []string{"ops"}},
		{Name: "backup_stale", Kind: "backup_stale", MaxAge: "26h", Channels: []string{"ops"}},
		{Name: "agent_broken", Kind: "component_down", Channels: []string{"ops"}},
	}
	h := newHarness(t, "", rules...)
	unit := func(name, state string, v float64) {
		h.set(api.MetricUnitState, map[string]string{"name": name, "state": state, "type": "simple"}, v)
	}
	unit("nginx.service", "active", 0)
	unit("nginx.service", "failed", 1)
	unit("cron.service", "failed", 1) // not the watched unit
	h.set(api.MetricBackupSuccess, map[string]string{"schedule": "etc"}, float64(t0.Add(-27*time.Hour).Unix()))
	h.set(api.MetricBackupSuccess, map[string]string{"schedule": "db"}, float64(t0.Add(-time.Hour).Unix()))
	h.set(api.MetricComponentUp, map[string]string{"component": "backup_scheduler"}, 0)
	h.set(api.MetricComponentUp, map[string]string{"component": "collector"}, 1)
	h.eval()
	got := map[string]string{}
	for _, a := range h.sent[0].Alerts {
		got[a.Rule] = a.Annotations["summary"]
	}
	want := map[string]string{
		"nginx_failed": "nginx.service failed on web1",
		"backup_stale": "backup etc on web1 last succeeded 27h0m0s ago",
		"agent_broken": "agent component backup_scheduler on web1 is failing",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("built-in alerts (-want +got):\n%s", d)
	}
}

func TestEngine_repeatInterval(t *testing.T) {
	t.Parallel()
	r := diskRuleForZero()
	r.RepeatInterval = "1m"
	h := newHarness(t, "", r)
	at := h.runDiskAt(root, slices.Repeat([]float64{95}, 14)...)
	want := []string{"0s ops:firing", "1m0s ops:firing(repeat)", "2m0s ops:firing(repeat)"}
	if d := cmp.Diff(want, at); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
}

func TestEngine_newChannelGetsFiringAlert(t *testing.T) {
	t.Parallel()
	r := diskRuleForZero()
	h := newHarness(t, "", r)
	h.runDisk(root, 95)
	r.Channels = []string{"ops", "pager"}
	if err := h.e.SetRules([]api.AlertRule{r}); err != nil {
		t.Fatal(err)
	}
	h.runDisk(root, 95, 50)
	if d := cmp.Diff([]string{"ops:firing", "pager:firing", "ops:resolved", "pager:resolved"}, sentStates(h.sent)); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
}

func TestEngine_ruleRemovedOrChangedWhileFiring(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", diskRuleForZero())
	h.runDisk(root, 95)
	// The selector changes: the old alert is about other series now.
	changed := diskRuleForZero()
	changed.Matchers = []api.LabelMatcher{{Label: "mountpoint", Op: "=", Value: "/srv"}}
	if err := h.e.SetRules([]api.AlertRule{changed}); err != nil {
		t.Fatal(err)
	}
	h.eval()
	h.runDisk(map[string]string{"mountpoint": "/srv"}, 95)
	if err := h.e.SetRules(nil); err != nil {
		t.Fatal(err)
	}
	h.eval()
	if d := cmp.Diff([]string{"ops:firing", "ops:resolved", "ops:firing", "ops:resolved"}, sentStates(h.sent)); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
	hist := h.e.History(api.AlertHistoryQuery{State: api.AlertResolved})
	if len(hist) != 2 || hist[0].Reason != "rule changed" || hist[1].Reason != "rule removed" {
		t.Errorf("resolved history = %+v", hist)
	}
}

func TestEngine_invalidRuleIsReported(t *testing.T) {
	t.Parallel()
	e, err := New(Config{Interval: step})
	if err != nil {
		t.Fatal(err)
	}
	bad := diskRule()
	bad.For = "5s"
	err = e.SetRules([]api.AlertRule{bad, {Name: "ok", Metric: "m", Op: ">", Threshold: 1}})
	if err == nil || !strings.Contains(err.Error(), "for 5s is shorter than the collection interval 10s") {
		t.Errorf("SetRules error = %v, want the for/interval message", err)
	}
	if len(e.rules) != 1 || e.rules[0].spec.Name != "ok" {
		t.Errorf("rules kept = %d, want only the valid one", len(e.rules))
	}
}

func TestEngine_alertsPerRuleBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", diskRuleForZero())
	h.cfg.MaxAlertsPerRule = 3
	h.start(diskRuleForZero())
	for _, m := range []string{"/a", "/b", "/c", "/d", "/e"} {
		h.set("disk_used_percent", map[string]string{"mountpoint": m}, 95)
	}
	h.eval()
	if got := len(h.e.RuleStatus("disk_full").Alerts); got != 3 {
		t.Errorf("alerts = %d, want the bound of 3", got)
	}
}

func TestEngine_statusDuringEvaluation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", diskRuleForZero())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			h.e.Alerts()
			h.e.History(api.AlertHistoryQuery{})
			h.e.RuleStatus("disk_full")
		}
	}()
	for i := range 200 {
		h.src.set(t0.Add(time.Duration(i)*step), "disk_used_percent", root, float64(80+i%20))
		if _, err := h.e.Evaluate(t0.Add(time.Duration(i)*step), h.src); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

func TestEngine_resolvedAlertFiresAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", diskRule())
	sent := h.runDiskAt(root, 95, 95, 95, 95, 50, 95, 95, 95, 95)
	want := []string{"inactive>pending", "pending>firing", "firing>resolved", "resolved>pending", "pending>firing"}
	if d := cmp.Diff(want, transitions(h.e.History(api.AlertHistoryQuery{}))); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"30s ops:firing", "40s ops:resolved", "1m20s ops:firing"}, sent); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
	// A new episode: a new start, the same fingerprint.
	if a, b := h.sent[0].Alerts[0], h.sent[2].Alerts[0]; a.Fingerprint != b.Fingerprint || !b.StartsAt.Equal(t0.Add(80*time.Second)) {
		t.Errorf("episodes: %+v then %+v", a, b)
	}
}
