package api

import (
	"strings"
	"testing"
	"time"
)

func TestAlertRule_Validate(t *testing.T) {
	t.Parallel()
	base := func() AlertRule {
		return AlertRule{Name: "disk_full", Metric: "node_filesystem_avail_bytes", Op: "<", Threshold: 1e9,
			For: "1m", Channels: []string{"ops"}, Annotations: map[string]string{"summary": "{{ .Labels.mountpoint }} low"}}
	}
	one := 1.0
	for _, tc := range []struct {
		name     string
		edit     func(*AlertRule)
		interval time.Duration
		want     string // "" means valid
	}{
		{"valid", func(*AlertRule) {}, 10 * time.Second, ""},
		{"bad name", func(r *AlertRule) { r.Name = "Disk Full" }, 0, `name "Disk Full"`},
		{"unknown kind", func(r *AlertRule) { r.Kind = "magic" }, 0, `kind "magic": want one of threshold, absent`},
		{"no metric", func(r *AlertRule) { r.Metric = "" }, 0, "metric: required"},
		{"bad metric", func(r *AlertRule) { r.Metric = "disk-free" }, 0, `metric: metric name "disk-free" is not a Prometheus metric name`},
		{"bad op", func(r *AlertRule) { r.Op = "=>" }, 0, `op "=>": want one of >, >=`},
		{"bad matcher op", func(r *AlertRule) { r.Matchers = []LabelMatcher{{Label: "mountpoint", Op: "~", Value: "/"}} }, 0, `matchers[0]: mountpoint: op "~"`},
		{"bad regexp", func(r *AlertRule) { r.Matchers = []LabelMatcher{{Label: "device", Op: "=~", Value: "sd("}} }, 0, `matchers[0]: device: value "sd(" is not a regular expression`},
		{"bad for", func(r *AlertRule) { r.For = "soon" }, 0, `for: duration "soon"`},
		{"zero for", func(r *AlertRule) { r.For = "0s" }, 10 * time.Second, ""},
		{"for below interval", func(r *AlertRule) { r.For = "5s" }, 10 * time.Second,
			"for 5s is shorter than the collection interval 10s: rules are evaluated once per collection, so it would act exactly as 0; use 0 or at least 10s"},
		{"for below interval unknown", func(r *AlertRule) { r.For = "5s" }, 0, ""},
		{"clear_for below interval", func(r *AlertRule) { r.ClearFor = "1s" }, 10 * time.Second, "clear_for 1s is shorter than the collection interval"},
		{"window without aggregation", func(r *AlertRule) { r.Window = "5m" }, 0, "aggregation and window: set both"},
		{"bad aggregation", func(r *AlertRule) { r.Aggregation, r.Window = "median", "5m" }, 0, `aggregation "median"`},
		{"rate window too short", func(r *AlertRule) { r.Aggregation, r.Window = "rate", "15s" }, 10 * time.Second,
			"window 15s: rate needs two samples in the window, and at a collection interval of 10s that takes at least 20s"},
		{"avg window too short", func(r *AlertRule) { r.Aggregation, r.Window = "avg", "5s" }, 10 * time.Second, "window 5s is shorter than the collection interval 10s"},
		{"resolve on wrong side", func(r *AlertRule) { r.ResolveThreshold = &one }, 0,
			`resolve_threshold 1: with op "<" the alert clears above the threshold, so want at least 1e+09`},
		{"resolve with ==", func(r *AlertRule) { r.Op = "=="; r.ResolveThreshold = &one }, 0, "resolve_threshold: needs op >, >=, < or <="},
		{"bad no_data", func(r *AlertRule) { r.NoData = "ignore" }, 0, `no_data "ignore": want one of ok, alert, keep`},
		{"annotation does not parse", func(r *AlertRule) { r.Annotations["summary"] = "{{ .Value " }, 0,
			"annotations.summary: template does not parse"},
		{"annotation names a missing field", func(r *AlertRule) { r.Annotations["summary"] = "{{ .Vaule }}" }, 0,
			"annotations.summary: template fails on sample data"},
		{"label does not parse", func(r *AlertRule) { r.Labels = map[string]string{"team": "{{ if }}"} }, 0, "labels.team: template does not parse"},
		{"reserved label", func(r *AlertRule) { r.Labels = map[string]string{"alertname": "x"} }, 0, `labels: key "alertname" is set by the engine`},
		{"bad label key", func(r *AlertRule) { r.Labels = map[string]string{"team-name": "x"} }, 0, `labels: key "team-name"`},
		{"duplicate channel", func(r *AlertRule) { r.Channels = []string{"ops", "ops"} }, 0, `channels[1]: "ops" is listed twice`},
		{"bad channel", func(r *AlertRule) { r.Channels = []string{"../x"} }, 0, `channels[0]: name "../x"`},
		{"bad severity", func(r *AlertRule) { r.Severity = "P1!" }, 0, `severity "P1!"`},
		{"short repeat", func(r *AlertRule) { r.RepeatInterval = "10s" }, 0, "repeat_interval 10s: want at least 1m"},
		{"unit on threshold", func(r *AlertRule) { r.Unit = "nginx.service" }, 0, "unit, schedule, max_age and component: each belongs to its kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := base()
			tc.edit(&r)
			err := r.ValidateWithInterval(tc.interval)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("ValidateWithInterval: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("ValidateWithInterval = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestAlertRule_builtinKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rule       AlertRule
		want       string
		metric     string
		matchers   string
		op         string
		threshold  float64
		validation string
	}{
		{rule: AlertRule{Name: "u", Kind: AlertRuleUnitFailed, Unit: "nginx.service"},
			metric: MetricUnitState, matchers: `name="nginx.service" state="failed"`, op: "==", threshold: 1},
		{rule: AlertRule{Name: "b", Kind: AlertRuleBackupStale, Schedule: "etc", MaxAge: "1d"},
			metric: MetricBackupSuccess, matchers: `schedule="etc"`, op: ">", threshold: 86400},
		{rule: AlertRule{Name: "c", Kind: AlertRuleComponentDown},
			metric: MetricComponentUp, matchers: ``, op: "==", threshold: 0},
		{rule: AlertRule{Name: "b", Kind: AlertRuleBackupStale}, validation: "max_age: required"},
		{rule: AlertRule{Name: "u", Kind: AlertRuleUnitFailed, Unit: "nginx"}, validation: `unit "nginx": want a systemd unit name`},
		{rule: AlertRule{Name: "u", Kind: AlertRuleUnitFailed, Metric: "x", Op: ">"}, validation: "metric, op, threshold, resolve_threshold, aggregation and window are set by the kind"},
		{rule: AlertRule{Name: "a", Kind: AlertRuleAbsent, Metric: "x", Op: ">"}, validation: "kind absent: fires when no series has data"},
	} {
		err := tc.rule.Validate()
		if tc.validation != "" {
			if err == nil || !strings.Contains(err.Error(), tc.validation) {
				t.Errorf("%+v: Validate = %v, want %q", tc.rule, err, tc.validation)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: Validate: %v", tc.rule, err)
		}
		metric, ms := tc.rule.Selector()
		var parts []string
		for _, m := range ms {
			parts = append(parts, m.String())
		}
		op, th := tc.rule.Condition()
		if metric != tc.metric || strings.Join(parts, " ") != tc.matchers || op != tc.op || th != tc.threshold {
			t.Errorf("%s: selector %s{%s} %s %g; want %s{%s} %s %g", tc.rule.Kind, metric, strings.Join(parts, " "), op, th,
				tc.metric, tc.matchers, tc.op, tc.threshold)
		}
	}
}

func TestAlertRuleKind(t *testing.T) {
	t.Parallel()
	if AlertRuleKind.Configure().Name != "alert_rule.configure" || AlertRuleKind.Dir != "alert_rules" ||
		SilenceKind.Status().Name != "silence.status" || SilenceKind.Dir != "silences" {
		t.Errorf("kinds: %+v %+v", AlertRuleKind, SilenceKind)
	}
}

func TestSilence_Validate(t *testing.T) {
	t.Parallel()
	m := []LabelMatcher{{Label: "alertname", Op: "=", Value: "disk_full"}}
	for _, tc := range []struct {
		name string
		s    Silence
		want string
	}{
		{"fixed", Silence{Name: "m", Matchers: m, StartsAt: "2026-03-01T22:00:00Z", EndsAt: "2026-03-02T00:00:00+01:00", Comment: "swap"}, ""},
		{"recurring", Silence{Name: "m", Matchers: m, Schedule: "0 2 * * sun", Duration: "2h", Comment: "weekly"}, ""},
		{"no comment", Silence{Name: "m", Matchers: m, Schedule: "0 2 * * *", Duration: "2h"}, "comment: required"},
		{"no matchers", Silence{Name: "m", Schedule: "0 2 * * *", Duration: "2h", Comment: "x"}, "matchers: want at least one"},
		{"no window", Silence{Name: "m", Matchers: m, Comment: "x"}, "starts_at and ends_at, or schedule and duration: required"},
		{"both windows", Silence{Name: "m", Matchers: m, StartsAt: "2026-03-01T22:00:00Z", EndsAt: "2026-03-01T23:00:00Z", Schedule: "0 2 * * *", Duration: "1h", Comment: "x"},
			"set one window"},
		{"bad time", Silence{Name: "m", Matchers: m, StartsAt: "tonight", EndsAt: "2026-03-01T23:00:00Z", Comment: "x"}, `starts_at "tonight": want an RFC 3339 time`},
		{"ends first", Silence{Name: "m", Matchers: m, StartsAt: "2026-03-01T23:00:00Z", EndsAt: "2026-03-01T22:00:00Z", Comment: "x"}, "ends_at 2026-03-01T22:00:00Z: want a time after starts_at"},
		{"bad cron", Silence{Name: "m", Matchers: m, Schedule: "0 25 * * *", Duration: "1h", Comment: "x"}, "schedule: schedule \"0 25 * * *\": hour field"},
		{"no duration", Silence{Name: "m", Matchers: m, Schedule: "0 2 * * *", Comment: "x"}, "a recurring window needs both"},
		{"long duration", Silence{Name: "m", Matchers: m, Schedule: "0 2 * * *", Duration: "30d", Comment: "x"}, "duration 720h0m0s: want at most 168h0m0s"},
		{"bad channel", Silence{Name: "m", Matchers: m, Schedule: "0 2 * * *", Duration: "1h", Comment: "x", NotifyChannels: []string{"A"}}, "notify_channels[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestAlertTemplateFuncs(t *testing.T) {
	t.Parallel()
	tmpl, err := ParseAlertTemplate("t", `{{ humanizeBytes .Value }} {{ humanizeDuration .Threshold }}`)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, AlertTemplateData{Value: 1.5 * 1024 * 1024 * 1024, Threshold: 5400}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "1.5GiB 1h30m0s" {
		t.Errorf("got %q", got)
	}
}
