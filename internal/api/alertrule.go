package api

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Alert rule kinds. A threshold rule compares a metric with a threshold,
// an absent rule fires when no series of its selector has data, and the
// built-in kinds are threshold rules whose metric and condition Steward
// knows.
const (
	AlertRuleThreshold     = "threshold"
	AlertRuleAbsent        = "absent"
	AlertRuleUnitFailed    = "unit_failed"    // node_systemd_unit_state{state="failed"} == 1
	AlertRuleBackupStale   = "backup_stale"   // time() - steward_backup_last_success_timestamp_seconds > max_age
	AlertRuleComponentDown = "component_down" // steward_component_up == 0
)

// The metrics the built-in rule kinds read.
const (
	MetricUnitState     = "node_systemd_unit_state"
	MetricBackupSuccess = "steward_backup_last_success_timestamp_seconds"
	MetricComponentUp   = "steward_component_up"
)

// No-data modes: what a rule does when its series has no current data (no
// sample, a stale one, an empty window).
const (
	NoDataOK    = "ok"    // no data counts as the condition not holding (the default, as in Prometheus)
	NoDataAlert = "alert" // no data counts as the condition holding
	NoDataKeep  = "keep"  // no data leaves the alert as it is
)

var (
	alertRuleKinds    = []string{AlertRuleThreshold, AlertRuleAbsent, AlertRuleUnitFailed, AlertRuleBackupStale, AlertRuleComponentDown}
	alertAggregations = []string{"avg", "min", "max", "last", "rate", "increase"}
	alertOps          = []string{">", ">=", "<", "<=", "==", "!="}
	matcherOps        = []string{"=", "!=", "=~", "!~"}
	noDataModes       = []string{NoDataOK, NoDataAlert, NoDataKeep}

	severityPattern  = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	componentPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
)

// AlertRule is /etc/steward/alert_rules/<name>.json (steward_alert_rule):
// a condition on the host's metrics and where to send the alert it raises.
type AlertRule struct {
	Name string `json:"name"`
	// Kind is one of the AlertRule* kinds; empty means AlertRuleThreshold.
	Kind string `json:"kind,omitempty"`

	// Metric and Matchers select the series (threshold and absent rules;
	// the built-in kinds know their metric and accept extra matchers).
	Metric   string         `json:"metric,omitempty"`
	Matchers []LabelMatcher `json:"matchers,omitempty"`
	// Aggregation (avg, min, max, last, rate, increase) over Window turns
	// each series' points in the window into the value compared; without
	// one the latest sample is compared.
	Aggregation string `json:"aggregation,omitempty"`
	Window      string `json:"window,omitempty"`
	// Op and Threshold are the condition: value Op Threshold.
	Op        string  `json:"op,omitempty"`
	Threshold float64 `json:"threshold"`
	// ResolveThreshold, when set, is where a firing alert clears: it stays
	// firing until the value is no longer beyond ResolveThreshold (with Op
	// ">", until value <= ResolveThreshold), so a value hovering at
	// Threshold does not flap.
	ResolveThreshold *float64 `json:"resolve_threshold,omitempty"`

	// For is how long the condition must hold before the alert fires.
	For string `json:"for,omitempty"`
	// KeepFiringFor keeps a firing alert firing this long after the
	// condition stopped holding (Prometheus's keep_firing_for).
	KeepFiringFor string `json:"keep_firing_for,omitempty"`
	// ClearFor is how long the value must stay on the clear side of
	// ResolveThreshold (of Threshold without one) before the alert resolves.
	ClearFor string `json:"clear_for,omitempty"`
	// NoData is NoDataOK (default), NoDataAlert or NoDataKeep.
	NoData string `json:"no_data,omitempty"`

	// Unit (unit_failed): the watched unit, e.g. "nginx.service"; empty
	// means every watched unit.
	Unit string `json:"unit,omitempty"`
	// Schedule (backup_stale): the backup schedule; empty means every one.
	Schedule string `json:"schedule,omitempty"`
	// MaxAge (backup_stale): how old the last successful backup may be. A
	// schedule that never succeeded (the metric is 0) is stale.
	MaxAge string `json:"max_age,omitempty"`
	// Component (component_down): the daemon component; empty means every one.
	Component string `json:"component,omitempty"`

	Severity string   `json:"severity,omitempty"`
	Channels []string `json:"channels,omitempty"` // steward_notification_channel names
	// Labels and Annotations are text/template strings over
	// AlertTemplateData, e.g. "{{ .Labels.mountpoint }} is {{ printf \"%.0f\" .Value }}% full".
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// RepeatInterval hands a firing alert to its channels again after it;
	// empty means never.
	RepeatInterval string `json:"repeat_interval,omitempty"`
	// MuteDuringChanges mutes the rule while Steward itself changes the host
	// (deploys, agent upgrades, restarts it makes).
	MuteDuringChanges bool `json:"mute_during_changes,omitempty"`
}

// LabelMatcher selects series (or, in a silence, alerts) by one label, as
// in PromQL: Op is "=", "!=", "=~" or "!~"; a regular expression must match
// the whole value; a label the series does not have has the value "".
type LabelMatcher struct {
	Label string `json:"label"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

// Regexp returns the anchored regular expression of a =~ or !~ matcher.
func (m LabelMatcher) Regexp() (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + m.Value + ")$")
}

// String renders the matcher as PromQL does: mountpoint=~"/srv.*".
func (m LabelMatcher) String() string { return m.Label + m.Op + strconv.Quote(m.Value) }

func (m LabelMatcher) validate() error {
	if !labelNamePattern.MatchString(m.Label) {
		return fmt.Errorf("label %q: want a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)", m.Label)
	}
	if !slices.Contains(matcherOps, m.Op) {
		return fmt.Errorf("%s: op %q: want one of %s", m.Label, m.Op, strings.Join(matcherOps, ", "))
	}
	if m.Op == "=~" || m.Op == "!~" {
		if _, err := m.Regexp(); err != nil {
			return fmt.Errorf("%s: value %q is not a regular expression: %w", m.Label, m.Value, err)
		}
	}
	return nil
}

func validateMatchers(attr string, ms []LabelMatcher) []error {
	var errs []error
	for i, m := range ms {
		if err := m.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", attr, i, err))
		}
	}
	return errs
}

// AlertRuleKind is the managed-object kind of steward_alert_rule: the
// methods alert_rule.configure, .remove and .status, and the files
// /etc/steward/alert_rules/<name>.json.
var AlertRuleKind = Kind[AlertRule, AlertRuleObserved]{Name: "alert_rule", Dir: "alert_rules"}

// ObjectName returns the rule's name.
func (r AlertRule) ObjectName() string { return r.Name }

// EffectiveKind is Kind with the default filled in.
func (r AlertRule) EffectiveKind() string {
	if r.Kind == "" {
		return AlertRuleThreshold
	}
	return r.Kind
}

// Selector returns the metric the rule reads and every matcher it selects
// series with, the built-in kinds' own included (so plan-time validation
// can warn about a metric the host does not have).
func (r AlertRule) Selector() (metric string, matchers []LabelMatcher) {
	ms := slices.Clone(r.Matchers)
	eq := func(label, value string) {
		if value != "" {
			ms = append(ms, LabelMatcher{Label: label, Op: "=", Value: value})
		}
	}
	switch r.EffectiveKind() {
	case AlertRuleUnitFailed:
		eq("name", r.Unit)
		eq("state", "failed")
		return MetricUnitState, ms
	case AlertRuleBackupStale:
		eq("schedule", r.Schedule)
		return MetricBackupSuccess, ms
	case AlertRuleComponentDown:
		eq("component", r.Component)
		return MetricComponentUp, ms
	}
	return r.Metric, ms
}

// Condition returns the comparison the rule makes: value op threshold. For
// backup_stale the value is the backup's age in seconds.
func (r AlertRule) Condition() (op string, threshold float64) {
	switch r.EffectiveKind() {
	case AlertRuleUnitFailed:
		return "==", 1
	case AlertRuleComponentDown:
		return "==", 0
	case AlertRuleBackupStale:
		d, _ := ParseDuration(r.MaxAge)
		return ">", d.Seconds()
	}
	return r.Op, r.Threshold
}

// AlertRuleDurations are a rule's durations, parsed; zero where unset.
type AlertRuleDurations struct {
	Window, For, KeepFiringFor, ClearFor, MaxAge, RepeatInterval time.Duration
}

// Durations parses the rule's durations, naming the attribute of the first
// that does not parse.
func (r AlertRule) Durations() (AlertRuleDurations, error) {
	var d AlertRuleDurations
	var errs []error
	for _, f := range []struct {
		attr, value string
		out         *time.Duration
	}{
		{"window", r.Window, &d.Window}, {"for", r.For, &d.For},
		{"keep_firing_for", r.KeepFiringFor, &d.KeepFiringFor}, {"clear_for", r.ClearFor, &d.ClearFor},
		{"max_age", r.MaxAge, &d.MaxAge}, {"repeat_interval", r.RepeatInterval, &d.RepeatInterval},
	} {
		v, err := parseOptionalDuration(f.value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.attr, err))
		}
		*f.out = v
	}
	return d, errors.Join(errs...)
}

// parseOptionalDuration is ParseDuration that also takes "" and a zero
// ("0", "0s") as zero.
func parseOptionalDuration(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d == 0 {
		return 0, nil
	}
	return ParseDuration(s)
}

// Validate checks the rule without knowing the host's collection interval.
func (r AlertRule) Validate() error { return r.ValidateWithInterval(0) }

// ValidateWithInterval checks every attribute, naming it and saying what is
// accepted, and, when interval (the host's collection interval, which is
// also the evaluation interval) is not zero, the durations against it.
func (r AlertRule) ValidateWithInterval(interval time.Duration) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(ValidateObjectName(r.Name))
	kind := r.EffectiveKind()
	if !slices.Contains(alertRuleKinds, kind) {
		add(fmt.Errorf("kind %q: want one of %s", r.Kind, strings.Join(alertRuleKinds, ", ")))
	}
	builtin := kind != AlertRuleThreshold && kind != AlertRuleAbsent
	errs = append(errs, validateMatchers("matchers", r.Matchers)...)
	d, err := r.Durations()
	add(err)

	switch {
	case builtin:
		if r.Metric != "" || r.Op != "" || r.Threshold != 0 || r.ResolveThreshold != nil || r.Aggregation != "" || r.Window != "" {
			add(fmt.Errorf("kind %s: metric, op, threshold, resolve_threshold, aggregation and window are set by the kind; leave them out", kind))
		}
	case r.Metric == "":
		add(fmt.Errorf("metric: required for kind %s", kind))
	default:
		if err := CheckMetricName(r.Metric); err != nil {
			add(fmt.Errorf("metric: %w", err))
		}
	}
	if kind != AlertRuleUnitFailed && r.Unit != "" || kind != AlertRuleBackupStale && (r.Schedule != "" || r.MaxAge != "") ||
		kind != AlertRuleComponentDown && r.Component != "" {
		add(errors.New("unit, schedule, max_age and component: each belongs to its kind only (unit_failed; backup_stale; component_down)"))
	}
	switch kind {
	case AlertRuleAbsent:
		if r.Op != "" || r.Threshold != 0 || r.ResolveThreshold != nil || r.Aggregation != "" || r.Window != "" || r.NoData != "" {
			add(errors.New("kind absent: fires when no series has data, so op, threshold, resolve_threshold, aggregation, window and no_data do not apply"))
		}
	case AlertRuleThreshold:
		add(r.validateCondition())
	case AlertRuleUnitFailed:
		if r.Unit != "" && !unitNamePattern.MatchString(r.Unit) {
			add(fmt.Errorf("unit %q: want a systemd unit name with its type, such as \"nginx.service\"", r.Unit))
		}
	case AlertRuleBackupStale:
		if r.MaxAge == "" {
			add(errors.New("max_age: required for kind backup_stale, e.g. \"26h\""))
		}
		if r.Schedule != "" {
			if err := ValidateObjectName(r.Schedule); err != nil {
				add(fmt.Errorf("schedule: %w", err))
			}
		}
	case AlertRuleComponentDown:
		if r.Component != "" && !componentPattern.MatchString(r.Component) {
			add(fmt.Errorf("component %q: want a daemon component name in snake_case, such as \"backup_scheduler\"", r.Component))
		}
	}
	if r.NoData != "" && !slices.Contains(noDataModes, r.NoData) {
		add(fmt.Errorf("no_data %q: want one of %s", r.NoData, strings.Join(noDataModes, ", ")))
	}
	if r.Severity != "" && !severityPattern.MatchString(r.Severity) {
		add(fmt.Errorf("severity %q: want a lower-case word such as \"critical\", \"warning\" or \"info\"", r.Severity))
	}
	for i, c := range r.Channels {
		if err := ValidateObjectName(c); err != nil {
			add(fmt.Errorf("channels[%d]: %w", i, err))
		} else if slices.Index(r.Channels, c) != i {
			add(fmt.Errorf("channels[%d]: %q is listed twice", i, c))
		}
	}
	errs = append(errs, validateTemplates("labels", r.Labels, true)...)
	errs = append(errs, validateTemplates("annotations", r.Annotations, false)...)
	if d.RepeatInterval != 0 && d.RepeatInterval < time.Minute {
		add(fmt.Errorf("repeat_interval %s: want at least 1m, or leave it out to never repeat", d.RepeatInterval))
	}
	if err == nil && interval > 0 {
		errs = append(errs, r.checkInterval(d, interval)...)
	}
	return errors.Join(errs...)
}

func (r AlertRule) validateCondition() error {
	var errs []error
	if !slices.Contains(alertOps, r.Op) {
		errs = append(errs, fmt.Errorf("op %q: want one of %s", r.Op, strings.Join(alertOps, ", ")))
	}
	if r.Aggregation != "" && !slices.Contains(alertAggregations, r.Aggregation) {
		errs = append(errs, fmt.Errorf("aggregation %q: want one of %s", r.Aggregation, strings.Join(alertAggregations, ", ")))
	}
	if (r.Aggregation == "") != (r.Window == "") {
		errs = append(errs, errors.New("aggregation and window: set both (the aggregation runs over the window) or neither"))
	}
	if rt := r.ResolveThreshold; rt != nil {
		switch r.Op {
		case ">", ">=":
			if *rt > r.Threshold {
				errs = append(errs, fmt.Errorf("resolve_threshold %g: with op %q the alert clears below the threshold, so want at most %g", *rt, r.Op, r.Threshold))
			}
		case "<", "<=":
			if *rt < r.Threshold {
				errs = append(errs, fmt.Errorf("resolve_threshold %g: with op %q the alert clears above the threshold, so want at least %g", *rt, r.Op, r.Threshold))
			}
		default:
			errs = append(errs, fmt.Errorf("resolve_threshold: needs op >, >=, < or <= (with %q there is no side to clear on)", r.Op))
		}
	}
	return errors.Join(errs...)
}

// checkInterval rejects durations that the evaluation interval makes
// meaningless: rules are evaluated once per collection, so a condition
// cannot be seen holding for less than one interval.
func (r AlertRule) checkInterval(d AlertRuleDurations, interval time.Duration) []error {
	var errs []error
	for _, f := range []struct {
		attr string
		v    time.Duration
	}{{"for", d.For}, {"keep_firing_for", d.KeepFiringFor}, {"clear_for", d.ClearFor}} {
		if f.v > 0 && f.v < interval {
			errs = append(errs, fmt.Errorf("%s %s is shorter than the collection interval %s: rules are evaluated once per collection, so it would act exactly as 0; use 0 or at least %s",
				f.attr, f.v, interval, interval))
		}
	}
	switch r.Aggregation {
	case "rate", "increase":
		if d.Window < 2*interval {
			errs = append(errs, fmt.Errorf("window %s: %s needs two samples in the window, and at a collection interval of %s that takes at least %s",
				d.Window, r.Aggregation, interval, 2*interval))
		}
	case "":
	default:
		if d.Window < interval {
			errs = append(errs, fmt.Errorf("window %s is shorter than the collection interval %s: it would hold at most one sample; want at least %s",
				d.Window, interval, interval))
		}
	}
	return errs
}

// Reserved alert labels: the engine sets them.
const (
	AlertLabelName     = "alertname"
	AlertLabelSeverity = "severity"
	AlertLabelHost     = "host"
)

func validateTemplates(attr string, m map[string]string, isLabels bool) []error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !labelNamePattern.MatchString(k) || strings.HasPrefix(k, "__") {
			errs = append(errs, fmt.Errorf("%s: key %q: want a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", attr, k))
			continue
		}
		if isLabels && (k == AlertLabelName || k == AlertLabelSeverity) {
			errs = append(errs, fmt.Errorf("%s: key %q is set by the engine (alertname is the rule's name; use the severity attribute)", attr, k))
			continue
		}
		if _, err := ParseAlertTemplate(attr+"."+k, m[k]); err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %w", attr, k, err))
		}
	}
	return errs
}

// AlertTemplateData is what a rule's label and annotation templates see:
// {{ .Value }}, {{ .Threshold }}, {{ .Host }}, {{ .Labels.mountpoint }}.
type AlertTemplateData struct {
	Rule      string
	Value     float64
	Threshold float64
	Host      string
	HostID    string
	Severity  string
	// Labels are the series' labels (for labels templates) or the alert's
	// final labels (for annotations templates).
	Labels map[string]string
	// NoData says the alert fires because the series has no data (no_data
	// = "alert", or an absent rule); Value is then the last value seen.
	NoData bool
}

// alertTemplateFuncs are the functions templates may call beside Go's
// built-ins (printf, len, index, ...).
var alertTemplateFuncs = template.FuncMap{
	"humanizeBytes":    humanizeBytes,
	"humanizeDuration": humanizeDuration,
}

// ParseAlertTemplate parses text as a label or annotation template and
// runs it once on sample data, so a reference to a field that does not
// exist ({{ .Vaule }}) is an error at plan time, not at 3 a.m.
func ParseAlertTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Funcs(alertTemplateFuncs).Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template does not parse: %w", err)
	}
	sample := AlertTemplateData{Rule: "rule", Value: 1, Threshold: 1, Host: "host", HostID: "id", Labels: map[string]string{}}
	if err := t.Execute(io.Discard, sample); err != nil {
		return nil, fmt.Errorf("template fails on sample data (fields: .Rule .Value .Threshold .Host .HostID .Severity .Labels .NoData): %w", err)
	}
	return t, nil
}

// humanizeBytes renders a byte count in binary units, one decimal: 1.5GiB.
func humanizeBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for ; i < len(units)-1 && math.Abs(v) >= 1024; i++ {
		v /= 1024
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + units[i]
}

// humanizeDuration renders seconds as a duration: 1h30m0s.
func humanizeDuration(seconds float64) string {
	return time.Duration(seconds * float64(time.Second)).Round(time.Second).String()
}

// AlertRuleObserved is what alert_rule.status observes: the rule's alerts
// as the engine has them now.
type AlertRuleObserved struct {
	// Alerts are the rule's alerts that are not inactive: one per label set.
	Alerts         []AlertInstance  `json:"alerts"`
	LastTransition *AlertTransition `json:"last_transition,omitempty"`
	LastEvaluation time.Time        `json:"last_evaluation,omitzero"`
	// Note says why the rest is empty when the daemon could not be asked
	// (it is down) or does not have the rule loaded.
	Note string `json:"note,omitempty"`
}

// AlertInstance is the current state of one alert: a rule and a label set.
type AlertInstance struct {
	Rule        string            `json:"rule"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	State       string            `json:"state"` // AlertPending, AlertFiring or AlertResolved
	Value       float64           `json:"value"`
	NoData      bool              `json:"no_data,omitempty"`
	ActiveAt    time.Time         `json:"active_at"`
	FiredAt     time.Time         `json:"fired_at,omitzero"`
	ResolvedAt  time.Time         `json:"resolved_at,omitzero"`
	// Silenced names the silences covering the alert now, and Muted says
	// it is muted while Steward changes the host: either holds its
	// notifications back.
	Silenced []string `json:"silenced,omitempty"`
	Muted    bool     `json:"muted,omitempty"`
	// Notified are the channels that were told the alert fires.
	Notified []string `json:"notified,omitempty"`
}

// AlertTransition is one entry of the alert history: an alert moving from
// one state to another.
type AlertTransition struct {
	Time        time.Time         `json:"time"`
	Rule        string            `json:"rule"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	From        string            `json:"from"`
	To          string            `json:"to"`
	Value       float64           `json:"value"`
	NoData      bool              `json:"no_data,omitempty"`
	// Silenced and Muted say the transition was not notified because a
	// silence covered it or Steward was changing the host.
	Silenced []string `json:"silenced,omitempty"`
	Muted    bool     `json:"muted,omitempty"`
	// Reason explains a transition the values did not cause: "rule
	// removed", "rule changed".
	Reason string `json:"reason,omitempty"`
}

// AlertHistoryQuery filters the alert history (steward_alert_history,
// steward-agent alerts): zero fields match everything.
type AlertHistoryQuery struct {
	Rule  string    `json:"rule,omitempty"`
	State string    `json:"state,omitempty"` // the state moved to
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	Limit int       `json:"limit,omitempty"` // the newest Limit entries; 0 means all kept
}
