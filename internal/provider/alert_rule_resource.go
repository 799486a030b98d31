package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// NewAlertRuleResource returns the steward_alert_rule resource: the
// managed-object resource with the alert rule kind.
func NewAlertRuleResource() resource.Resource {
	return &objectResource[alertRuleModel, *alertRuleModel, api.AlertRule, api.AlertRuleObserved]{k: alertRuleKind()}
}

type alertRuleModel struct {
	objectState
	Kind              types.String  `tfsdk:"kind"`
	Metric            types.String  `tfsdk:"metric"`
	Matchers          types.List    `tfsdk:"matchers"`
	Aggregation       types.String  `tfsdk:"aggregation"`
	Window            types.String  `tfsdk:"window"`
	Op                types.String  `tfsdk:"op"`
	Threshold         types.Float64 `tfsdk:"threshold"`
	ResolveThreshold  types.Float64 `tfsdk:"resolve_threshold"`
	For               types.String  `tfsdk:"for"`
	KeepFiringFor     types.String  `tfsdk:"keep_firing_for"`
	ClearFor          types.String  `tfsdk:"clear_for"`
	NoData            types.String  `tfsdk:"no_data"`
	Unit              types.String  `tfsdk:"unit"`
	Schedule          types.String  `tfsdk:"schedule"`
	MaxAge            types.String  `tfsdk:"max_age"`
	Component         types.String  `tfsdk:"component"`
	Severity          types.String  `tfsdk:"severity"`
	Channels          types.List    `tfsdk:"channels"`
	Labels            types.Map     `tfsdk:"labels"`
	Annotations       types.Map     `tfsdk:"annotations"`
	RepeatInterval    types.String  `tfsdk:"repeat_interval"`
	MuteDuringChanges types.Bool    `tfsdk:"mute_during_changes"`

	Alerts         types.List   `tfsdk:"alerts"`
	Firing         types.Int64  `tfsdk:"firing"`
	LastEvaluation types.String `tfsdk:"last_evaluation"`
	Note           types.String `tfsdk:"note"`
}

type labelMatcherModel struct {
	Label types.String `tfsdk:"label"`
	Op    types.String `tfsdk:"op"`
	Value types.String `tfsdk:"value"`
}

// defaultMatcherOp is a matcher's op when the configuration leaves it out.
const defaultMatcherOp = "="

// defaultMetricPrefixes are the prefixes of the metrics the agent collects
// without any configuration (node_exporter's node_*, Steward's own
// steward_*, and the daemon's process_* and go_*); a rule on another
// metric needs a textfile or a custom metric to provide it.
var defaultMetricPrefixes = []string{"node_", "steward_", "process_", "go_"}

// minCollectionInterval is the shortest monitoring.interval a host accepts
// (api.Monitoring.CheckBounds): a duration shorter than it is wrong on
// every host.
const minCollectionInterval = time.Second

const alertRuleDescription = "An alert rule evaluated by the Steward agent on the host itself, right after each collection, so a host cut " +
	"off from central monitoring still alerts through any channel it can reach. A rule selects a metric by name and label matchers, " +
	"optionally aggregates it over a window, compares it with a threshold and fires once the condition held for `for`; it resolves with " +
	"hysteresis (`resolve_threshold`, `clear_for`) and says what no data means (`no_data`). The spec is `/etc/steward/alert_rules/<name>.json`; " +
	"an edit by hand shows in `terraform plan`, and the rule's current alerts are in `alerts`."

// durationOrZero accepts what api.AlertRule's durations do: a positive
// duration or a zero.
var durationOrZero = stringCheck{
	desc: "a duration such as \"30s\", \"5m\", \"2h\" or \"1d\", or \"0\"",
	check: func(s string) error {
		if s == "0" {
			return nil
		}
		if d, err := time.ParseDuration(s); err == nil && d == 0 {
			return nil
		}
		_, err := api.ParseDuration(s)
		return err
	},
}

// templateValidator parses a label or annotation template and runs it on
// sample data, as the agent does before it stores the rule.
var templateValidator = stringCheck{
	desc:  "a Go text/template over .Rule, .Value, .Threshold, .Host, .HostID, .Severity, .Labels and .NoData (functions: printf, humanizeBytes, humanizeDuration, …)",
	check: func(s string) error { _, err := api.ParseAlertTemplate("template", s); return err },
}

func alertRuleAttributes() map[string]schema.Attribute {
	optString := func(desc string, v ...validator.String) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, MarkdownDescription: desc, Validators: v}
	}
	intervalNote := " Rules are evaluated once per collection, so a value shorter than the host's collection interval is refused. " +
		"The provider does not know the host's `monitoring.interval` at plan time: there a value shorter than `1s` (every host's " +
		"shortest interval) is an error and one shorter than the default interval (`" + api.DefaultMonitoringInterval + "`) a warning; " +
		"the agent checks it against the host's own interval at apply and refuses it with the reason."
	alertObject := map[string]schema.Attribute{
		"fingerprint": schema.StringAttribute{Computed: true, MarkdownDescription: "Identifies the alert (rule and labels) across transitions and restarts."},
		"labels":      schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "The alert's labels."},
		"state":       schema.StringAttribute{Computed: true, MarkdownDescription: "`pending`, `firing` or `resolved`."},
		"value":       schema.Float64Attribute{Computed: true, MarkdownDescription: "The value last compared with the threshold."},
		"no_data":     schema.BoolAttribute{Computed: true, MarkdownDescription: "The alert is active because its series has no data."},
		"active_at":   schema.StringAttribute{Computed: true, MarkdownDescription: "When the condition started to hold (RFC 3339)."},
		"fired_at":    schema.StringAttribute{Computed: true, MarkdownDescription: "When the alert fired (RFC 3339), empty while pending."},
		"resolved_at": schema.StringAttribute{Computed: true, MarkdownDescription: "When it resolved (RFC 3339), empty while active."},
		"silenced": schema.ListAttribute{Computed: true, ElementType: types.StringType,
			MarkdownDescription: "The `steward_silence` names covering the alert now; its notifications are held back."},
		"muted": schema.BoolAttribute{Computed: true, MarkdownDescription: "Muted while Steward changes the host (`mute_during_changes`)."},
		"notified": schema.ListAttribute{Computed: true, ElementType: types.StringType,
			MarkdownDescription: "The channels that were told the alert fires."},
	}
	return map[string]schema.Attribute{
		"kind": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(api.AlertRuleThreshold),
			Validators: []validator.String{stringvalidator.OneOf(api.AlertRuleKindNames()...)},
			MarkdownDescription: "One of " + codeList(api.AlertRuleKindNames()) + ". `threshold` compares `metric` with `threshold`; `absent` fires " +
				"when no series of the selector has data; the built-in kinds know their metric and condition: `unit_failed` (a watched unit failed: " +
				"`node_systemd_unit_state{state=\"failed\"} == 1`, see `unit`), `backup_stale` (the last successful backup is older than `max_age`, " +
				"see `schedule`) and `component_down` (a daemon component fails: `steward_component_up == 0`, see `component`). Defaults to `threshold`."},
		"metric": optString("The metric, by its Prometheus name (`node_filesystem_avail_bytes`). Required for `threshold` and `absent`, "+
			"set by the built-in kinds. A name outside what the agent collects by default ("+codeList(defaultMetricPrefixes)+" prefixes) is a "+
			"plan-time warning, not an error: a textfile in `"+api.TextfileDir+"` or a custom metric may provide it.",
			stringCheck{desc: "a Prometheus metric name", check: api.CheckMetricName}),
		"matchers": schema.ListNestedAttribute{Optional: true,
			MarkdownDescription: "Label matchers selecting the series, as in PromQL; every one must match. A regular expression must match the whole " +
				"value, and a label the series does not have has the value `\"\"`. The built-in kinds add their own.",
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"label": schema.StringAttribute{Required: true, MarkdownDescription: "The label name, e.g. `mountpoint`."},
				"op": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultMatcherOp),
					Validators:          []validator.String{stringvalidator.OneOf(api.MatcherOpNames()...)},
					MarkdownDescription: "One of " + codeList(api.MatcherOpNames()) + ". Defaults to `=`."},
				"value": schema.StringAttribute{Required: true, MarkdownDescription: "The value, or a regular expression for `=~` and `!~`."},
			}}},
		"aggregation": optString("Turns each series' samples in `window` into the value compared: one of "+codeList(api.AlertAggregationNames())+
			". Without it the latest sample is compared. Set with `window`.", stringvalidator.OneOf(api.AlertAggregationNames()...)),
		"window": optString("The window `aggregation` runs over, e.g. `5m`. `rate` and `increase` need two samples in it, so at least twice "+
			"the collection interval."+intervalNote, durationOrZero),
		"op": optString("The comparison `value op threshold`: one of "+codeList(api.AlertOpNames())+". Required for `threshold`.",
			stringvalidator.OneOf(api.AlertOpNames()...)),
		"threshold": schema.Float64Attribute{Optional: true, MarkdownDescription: "The threshold compared with. Defaults to `0`."},
		"resolve_threshold": schema.Float64Attribute{Optional: true,
			MarkdownDescription: "Where a firing alert clears (hysteresis): with `op = \">\"` it stays firing until the value is at most this, so a " +
				"value hovering at `threshold` does not flap. On the clear side of `threshold`; needs `op` `>`, `>=`, `<` or `<=`. Defaults to `threshold`."},
		"for": optString("How long the condition must hold before the alert fires, e.g. `5m`. Defaults to `0` (fires at the first evaluation "+
			"that sees it)."+intervalNote, durationOrZero),
		"keep_firing_for": optString("Keep a firing alert firing this long after the condition stopped holding (Prometheus's `keep_firing_for`). "+
			"Defaults to `0`."+intervalNote, durationOrZero),
		"clear_for": optString("How long the value must stay on the clear side of `resolve_threshold` (of `threshold` without it) before the "+
			"alert resolves. Defaults to `0`."+intervalNote, durationOrZero),
		"no_data": optString("What no current data (no sample, a stale textfile, an empty window) means: `ok` (the condition does not hold), "+
			"`alert` (it holds) or `keep` (the alert stays as it is). Defaults to `ok`; not for `absent` rules.",
			stringvalidator.OneOf(api.NoDataModeNames()...)),
		"unit": optString("`unit_failed` only: the watched unit, e.g. `nginx.service` (it must be in the host's `monitoring.units`); " +
			"without it every watched unit."),
		"schedule": optString("`backup_stale` only: the backup schedule's name; without it every schedule."),
		"max_age": optString("`backup_stale` only, required there: how old the last successful backup may be, e.g. `26h`. A schedule that "+
			"never succeeded is stale.", durationOrZero),
		"component": optString("`component_down` only: the daemon component, e.g. `backup_scheduler`; without it every component."),
		"severity":  optString("The alert's `severity` label, a lower-case word such as `critical`, `warning` or `info`. Defaults to none."),
		"channels": schema.ListAttribute{Optional: true, ElementType: types.StringType,
			MarkdownDescription: "The `steward_notification_channel` names the alert goes to, e.g. `[steward_notification_channel.ops.name]` " +
				"(which also orders the apply). Without any the alert is recorded in the history only.",
			Validators: []validator.List{listvalidator.UniqueValues(), listvalidator.ValueStringsAre(stringvalidator.RegexMatches(api.ObjectNamePattern,
				"must be a channel name: 1-63 lower-case letters, digits, '_' or '-'"))}},
		"labels": schema.MapAttribute{Optional: true, ElementType: types.StringType,
			MarkdownDescription: "Extra labels of the alert, each a template (see `annotations`). `alertname` (the rule's name), `severity` and " +
				"`host` are set by the engine.",
			Validators: []validator.Map{mapvalidator.ValueStringsAre(templateValidator)}},
		"annotations": schema.MapAttribute{Optional: true, ElementType: types.StringType,
			MarkdownDescription: "Annotations of the alert, each a Go template over `.Rule`, `.Value`, `.Threshold`, `.Host`, `.HostID`, " +
				"`.Severity`, `.Labels` and `.NoData`, e.g. `\"{{ .Labels.mountpoint }} is {{ printf \\\"%.0f\\\" .Value }}% full\"`; " +
				"`humanizeBytes` and `humanizeDuration` are there too. A template that does not parse, or fails on sample data, is a plan-time error.",
			Validators: []validator.Map{mapvalidator.ValueStringsAre(templateValidator)}},
		"repeat_interval": optString("Send a firing alert to its channels again after this long, e.g. `4h`; at least `1m`. Defaults to never.",
			durationOrZero),
		"mute_during_changes": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
			MarkdownDescription: "Hold the rule's notifications back while Steward itself changes the host (deploys, agent upgrades, restarts " +
				"it makes), so an upgrade does not page anyone. Defaults to `false`."},
		// Computed.
		"alerts": schema.ListNestedAttribute{Computed: true,
			MarkdownDescription: "The rule's alerts that are not inactive, one per label set, as the engine had them at the last read.",
			NestedObject:        schema.NestedAttributeObject{Attributes: alertObject}},
		"firing": schema.Int64Attribute{Computed: true, MarkdownDescription: "How many of `alerts` fire."},
		"last_evaluation": schema.StringAttribute{Computed: true,
			MarkdownDescription: "When the engine last evaluated the rule (RFC 3339); empty before the first evaluation."},
		"note": observedNote,
	}
}

// alertRuleKind is steward_alert_rule as a managed object.
func alertRuleKind() objectKind[alertRuleModel, api.AlertRule, api.AlertRuleObserved] {
	attrs := alertRuleAttributes()
	toSpec := func(ctx context.Context, m *alertRuleModel) (api.AlertRule, diag.Diagnostics) { return m.toSpec(ctx) }
	return objectKind[alertRuleModel, api.AlertRule, api.AlertRuleObserved]{
		api:             api.AlertRuleKind,
		typeName:        "alert_rule",
		description:     alertRuleDescription,
		nameDescription: "Rule name, the alerts' `alertname`: lower-case letters, digits, `_` and `-`.",
		attributes:      attrs,
		validators: []resource.ConfigValidator{specValidator[alertRuleModel, api.AlertRule]{
			noun: "Alert Rule", attrs: attrs, known: (*alertRuleModel).known, toSpec: toSpec, check: checkAlertRule,
		}},
		known:  (*alertRuleModel).known,
		toSpec: toSpec,
		fromSpec: func(ctx context.Context, m *alertRuleModel, s api.AlertRule) diag.Diagnostics {
			return m.fromSpec(ctx, s)
		},
		observe:        (*alertRuleModel).observe,
		configureError: specConfigureError("Alert Rule", attrs),
	}
}

// checkAlertRule is the plan-time check of a rule: the agent's Validate
// (templates left to templateValidator, which blames the key), a duration
// shorter than any collection interval as an error, one shorter than the
// default interval and a metric the agent does not collect by default as
// warnings.
func checkAlertRule(r api.AlertRule) (errs, warnings error) {
	blank := r
	blank.Labels, blank.Annotations = blankValues(r.Labels), blankValues(r.Annotations)
	base := blank.Validate()
	if base != nil {
		return base, nil
	}
	errs = blank.ValidateWithInterval(minCollectionInterval)
	if errs != nil {
		return errs, nil
	}
	var ws []error
	if err := blank.ValidateWithInterval(mustDuration(api.DefaultMonitoringInterval)); err != nil {
		ws = append(ws, fmt.Errorf("%w. Steward cannot know the host's collection interval at plan time: on a host at the default "+
			"monitoring.interval (%s) the agent refuses this at apply; on a host collecting at least this often it is fine", err, api.DefaultMonitoringInterval))
	}
	if metric, _ := r.Selector(); !slices.ContainsFunc(defaultMetricPrefixes, func(p string) bool { return strings.HasPrefix(metric, p) }) {
		ws = append(ws, fmt.Errorf("metric %q is not one the agent collects by default (names starting with %s): unless a textfile in %s "+
			"or a custom metric provides it, the rule sees no data (no_data %q)", metric, strings.Join(defaultMetricPrefixes, ", "),
			api.TextfileDir, cmpOr(r.NoData, api.NoDataOK)))
	}
	return nil, errors.Join(ws...)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func mustDuration(s string) time.Duration {
	d, err := api.ParseDuration(s)
	if err != nil {
		panic(fmt.Sprintf("default duration %q: %v", s, err))
	}
	return d
}

// blankValues keeps a template map's keys (which Validate checks) and
// empties its values (which templateValidator checks, blaming the key).
func blankValues(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = ""
	}
	return out
}

func (m *alertRuleModel) known() bool {
	return allKnown(m.Name, m.Kind, m.Metric, m.Matchers, m.Aggregation, m.Window, m.Op, m.Threshold, m.ResolveThreshold, m.For,
		m.KeepFiringFor, m.ClearFor, m.NoData, m.Unit, m.Schedule, m.MaxAge, m.Component, m.Severity, m.Channels, m.Labels,
		m.Annotations, m.RepeatInterval, m.MuteDuringChanges)
}

// toSpec renders the rule the agent stores; attributes left out take their
// defaults, so a configuration (before defaults) renders as its plan does.
func (m *alertRuleModel) toSpec(ctx context.Context) (api.AlertRule, diag.Diagnostics) {
	var diags diag.Diagnostics
	r := api.AlertRule{
		Name: m.Name.ValueString(), Kind: m.Kind.ValueString(), Metric: m.Metric.ValueString(),
		Aggregation: m.Aggregation.ValueString(), Window: m.Window.ValueString(), Op: m.Op.ValueString(), Threshold: m.Threshold.ValueFloat64(),
		For: m.For.ValueString(), KeepFiringFor: m.KeepFiringFor.ValueString(), ClearFor: m.ClearFor.ValueString(), NoData: m.NoData.ValueString(),
		Unit: m.Unit.ValueString(), Schedule: m.Schedule.ValueString(), MaxAge: m.MaxAge.ValueString(), Component: m.Component.ValueString(),
		Severity: m.Severity.ValueString(), Channels: stringList(ctx, m.Channels, &diags),
		Labels: stringMap(ctx, m.Labels, &diags), Annotations: stringMap(ctx, m.Annotations, &diags),
		RepeatInterval: m.RepeatInterval.ValueString(), MuteDuringChanges: m.MuteDuringChanges.ValueBool(),
	}
	if !m.ResolveThreshold.IsNull() && !m.ResolveThreshold.IsUnknown() {
		v := m.ResolveThreshold.ValueFloat64()
		r.ResolveThreshold = &v
	}
	r.Matchers = matchersToSpec(ctx, m.Matchers, &diags)
	return r, diags
}

func matchersToSpec(ctx context.Context, l types.List, diags *diag.Diagnostics) []api.LabelMatcher {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	var ms []labelMatcherModel
	diags.Append(l.ElementsAs(ctx, &ms, false)...)
	out := make([]api.LabelMatcher, 0, len(ms))
	for _, mm := range ms {
		op := mm.Op.ValueString()
		if mm.Op.IsNull() {
			op = defaultMatcherOp
		}
		out = append(out, api.LabelMatcher{Label: mm.Label.ValueString(), Op: op, Value: mm.Value.ValueString()})
	}
	return out
}

var matcherAttrTypes = map[string]attr.Type{"label": types.StringType, "op": types.StringType, "value": types.StringType}

func matchersFromSpec(ctx context.Context, cur types.List, ms []api.LabelMatcher, diags *diag.Diagnostics) types.List {
	if len(ms) == 0 && (cur.IsNull() || cur.IsUnknown()) {
		return types.ListNull(types.ObjectType{AttrTypes: matcherAttrTypes})
	}
	out := make([]labelMatcherModel, 0, len(ms))
	for _, m := range ms {
		out = append(out, labelMatcherModel{Label: types.StringValue(m.Label), Op: types.StringValue(m.Op), Value: types.StringValue(m.Value)})
	}
	l, d := types.ListValueFrom(ctx, types.ObjectType{AttrTypes: matcherAttrTypes}, out)
	diags.Append(d...)
	return l
}

// fromSpec copies the rule the host has into m.
func (m *alertRuleModel) fromSpec(ctx context.Context, r api.AlertRule) diag.Diagnostics {
	var diags diag.Diagnostics
	m.Name = types.StringValue(r.Name)
	m.Kind = types.StringValue(r.EffectiveKind())
	m.Metric = specString(m.Metric, r.Metric)
	m.Matchers = matchersFromSpec(ctx, m.Matchers, r.Matchers, &diags)
	m.Aggregation = specString(m.Aggregation, r.Aggregation)
	m.Window = specString(m.Window, r.Window)
	m.Op = specString(m.Op, r.Op)
	m.Threshold = specFloat(m.Threshold, r.Threshold)
	m.ResolveThreshold = types.Float64Null()
	if r.ResolveThreshold != nil {
		m.ResolveThreshold = types.Float64Value(*r.ResolveThreshold)
	}
	m.For = specString(m.For, r.For)
	m.KeepFiringFor = specString(m.KeepFiringFor, r.KeepFiringFor)
	m.ClearFor = specString(m.ClearFor, r.ClearFor)
	m.NoData = specString(m.NoData, r.NoData)
	m.Unit = specString(m.Unit, r.Unit)
	m.Schedule = specString(m.Schedule, r.Schedule)
	m.MaxAge = specString(m.MaxAge, r.MaxAge)
	m.Component = specString(m.Component, r.Component)
	m.Severity = specString(m.Severity, r.Severity)
	m.Channels = specStringList(ctx, m.Channels, r.Channels, &diags)
	m.Labels = specStringMap(ctx, m.Labels, r.Labels, &diags)
	m.Annotations = specStringMap(ctx, m.Annotations, r.Annotations, &diags)
	m.RepeatInterval = specString(m.RepeatInterval, r.RepeatInterval)
	m.MuteDuringChanges = types.BoolValue(r.MuteDuringChanges)
	return diags
}

var alertInstanceAttrTypes = objectTypeOf(alertRuleAttributes()["alerts"])

// observe sets the rule's alerts as the engine has them.
func (m *alertRuleModel) observe(st api.ObjectStatus[api.AlertRule, api.AlertRuleObserved], _ time.Time) {
	ctx := context.Background()
	var diags diag.Diagnostics // plain values always convert
	items := make([]attr.Value, 0, len(st.Observed.Alerts))
	firing := 0
	alerts := slices.Clone(st.Observed.Alerts)
	slices.SortFunc(alerts, func(a, b api.AlertInstance) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	for _, a := range alerts {
		if a.State == api.AlertFiring {
			firing++
		}
		labels, d := types.MapValueFrom(ctx, types.StringType, nonNilMap(a.Labels))
		diags.Append(d...)
		silenced, d := types.ListValueFrom(ctx, types.StringType, append([]string{}, a.Silenced...))
		diags.Append(d...)
		notified, d := types.ListValueFrom(ctx, types.StringType, append([]string{}, a.Notified...))
		diags.Append(d...)
		obj, d := types.ObjectValue(alertInstanceAttrTypes, map[string]attr.Value{
			"fingerprint": types.StringValue(a.Fingerprint), "labels": labels, "state": types.StringValue(a.State),
			"value": types.Float64Value(a.Value), "no_data": types.BoolValue(a.NoData), "active_at": types.StringValue(rfc3339(a.ActiveAt)),
			"fired_at": types.StringValue(rfc3339(a.FiredAt)), "resolved_at": types.StringValue(rfc3339(a.ResolvedAt)),
			"silenced": silenced, "muted": types.BoolValue(a.Muted), "notified": notified,
		})
		diags.Append(d...)
		items = append(items, obj)
	}
	l, d := types.ListValue(types.ObjectType{AttrTypes: alertInstanceAttrTypes}, items)
	diags.Append(d...)
	m.Alerts = l
	m.Firing = types.Int64Value(int64(firing))
	m.LastEvaluation = types.StringValue(rfc3339(st.Observed.LastEvaluation))
	m.Note = types.StringValue(st.Observed.Note)
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
