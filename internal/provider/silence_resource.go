package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// NewSilenceResource returns the steward_silence resource: the
// managed-object resource with the silence kind.
func NewSilenceResource() resource.Resource {
	return &objectResource[silenceModel, *silenceModel, api.Silence, api.SilenceObserved]{k: silenceKind()}
}

type silenceModel struct {
	objectState
	Matchers       types.List   `tfsdk:"matchers"`
	StartsAt       types.String `tfsdk:"starts_at"`
	EndsAt         types.String `tfsdk:"ends_at"`
	Schedule       types.String `tfsdk:"schedule"`
	Duration       types.String `tfsdk:"duration"`
	Comment        types.String `tfsdk:"comment"`
	NotifyChannels types.List   `tfsdk:"notify_channels"`

	Active      types.Bool   `tfsdk:"active"`
	WindowStart types.String `tfsdk:"window_start"`
	WindowEnd   types.String `tfsdk:"window_end"`
	Silenced    types.List   `tfsdk:"silenced"`
	Note        types.String `tfsdk:"note"`
}

const silenceDescription = "A silence on a host: alerts whose labels match every matcher are recorded in the history but not sent while " +
	"the silence is active, either once (`starts_at` to `ends_at`) or in a recurring maintenance window (`schedule` and `duration`, in the " +
	"host's time zone). A silence that ends while its alert still fires lets the notification go out. Unlike Alertmanager's silences it is " +
	"code reviewed in `terraform plan`. The spec is `/etc/steward/silences/<name>.json`; an edit by hand shows in `terraform plan`, and " +
	"`active` says whether it holds alerts back now."

func silenceAttributes() map[string]schema.Attribute {
	rfc3339Time := stringCheck{desc: "an RFC 3339 time such as \"2026-03-01T22:00:00Z\"",
		check: func(s string) error { _, err := time.Parse(time.RFC3339, s); return err }}
	return map[string]schema.Attribute{
		"matchers": schema.ListNestedAttribute{Required: true, Validators: []validator.List{listvalidator.SizeAtLeast(1)},
			MarkdownDescription: "Label matchers against the alert's labels (`alertname` is the rule's name, `host` and `severity` are " +
				"there too); an alert is silenced when every one matches. `{ label = \"alertname\", op = \"=~\", value = \".+\" }` silences " +
				"every alert of the host.",
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"label": schema.StringAttribute{Required: true, MarkdownDescription: "The label name."},
				"op": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultMatcherOp),
					Validators:          []validator.String{stringvalidator.OneOf(api.MatcherOpNames()...)},
					MarkdownDescription: "One of " + codeList(api.MatcherOpNames()) + ". Defaults to `=`."},
				"value": schema.StringAttribute{Required: true, MarkdownDescription: "The value, or a regular expression (matching the whole value) for `=~` and `!~`."},
			}}},
		"comment": schema.StringAttribute{Required: true, Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			MarkdownDescription: "Why the alerts are silenced, so whoever is paged next knows."},
		"starts_at": schema.StringAttribute{Optional: true, Validators: []validator.String{rfc3339Time},
			MarkdownDescription: "A fixed window's start (RFC 3339, e.g. `2026-03-01T22:00:00Z`); set with `ends_at`, or use `schedule`."},
		"ends_at": schema.StringAttribute{Optional: true, Validators: []validator.String{rfc3339Time},
			MarkdownDescription: "A fixed window's end (RFC 3339), after `starts_at`."},
		"schedule": schema.StringAttribute{Optional: true, Validators: []validator.String{cronValidator},
			MarkdownDescription: "A recurring window's starts: a cron expression (`m h dom mon dow`, e.g. `0 2 * * 0`) in the host's time zone; set with `duration`."},
		"duration": schema.StringAttribute{Optional: true, Validators: []validator.String{longDurationValidator},
			MarkdownDescription: "How long each recurring window lasts from its start, e.g. `2h`; at most `7d`, so a typo cannot silence a host for good."},
		"notify_channels": schema.ListAttribute{Optional: true, ElementType: types.StringType,
			MarkdownDescription: "`steward_notification_channel` names told when the silence starts and ends.",
			Validators: []validator.List{listvalidator.ValueStringsAre(stringvalidator.RegexMatches(api.ObjectNamePattern,
				"must be a channel name: 1-63 lower-case letters, digits, '_' or '-'"))}},
		// Computed.
		"active": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the silence holds alerts back now, at the last read."},
		"window_start": schema.StringAttribute{Computed: true,
			MarkdownDescription: "The window in force, or the next one when not active (RFC 3339); empty when there is none."},
		"window_end": schema.StringAttribute{Computed: true, MarkdownDescription: "Its end (RFC 3339); empty when there is none."},
		"silenced": schema.ListAttribute{Computed: true, ElementType: types.StringType,
			MarkdownDescription: "Fingerprints of the alerts it holds back now (as in `steward_alert_rule`'s `alerts`)."},
		"note": observedNote,
	}
}

// silenceKind is steward_silence as a managed object.
func silenceKind() objectKind[silenceModel, api.Silence, api.SilenceObserved] {
	attrs := silenceAttributes()
	toSpec := func(ctx context.Context, m *silenceModel) (api.Silence, diag.Diagnostics) {
		var diags diag.Diagnostics
		s := api.Silence{Name: m.Name.ValueString(), Matchers: matchersToSpec(ctx, m.Matchers, &diags), StartsAt: m.StartsAt.ValueString(),
			EndsAt: m.EndsAt.ValueString(), Schedule: m.Schedule.ValueString(), Duration: m.Duration.ValueString(),
			Comment: m.Comment.ValueString(), NotifyChannels: stringList(ctx, m.NotifyChannels, &diags)}
		return s, diags
	}
	known := func(m *silenceModel) bool {
		return allKnown(m.Name, m.Matchers, m.StartsAt, m.EndsAt, m.Schedule, m.Duration, m.Comment, m.NotifyChannels)
	}
	return objectKind[silenceModel, api.Silence, api.SilenceObserved]{
		api:             api.SilenceKind,
		typeName:        "silence",
		description:     silenceDescription,
		nameDescription: "Silence name: lower-case letters, digits, `_` and `-`.",
		attributes:      attrs,
		validators: []resource.ConfigValidator{specValidator[silenceModel, api.Silence]{
			noun: "Silence", attrs: attrs, known: known, toSpec: toSpec,
			check: func(s api.Silence) (error, error) { return s.Validate(), nil },
		}},
		known:  known,
		toSpec: toSpec,
		fromSpec: func(ctx context.Context, m *silenceModel, s api.Silence) diag.Diagnostics {
			var diags diag.Diagnostics
			m.Name = types.StringValue(s.Name)
			m.Matchers = matchersFromSpec(ctx, m.Matchers, s.Matchers, &diags)
			m.StartsAt = specString(m.StartsAt, s.StartsAt)
			m.EndsAt = specString(m.EndsAt, s.EndsAt)
			m.Schedule = specString(m.Schedule, s.Schedule)
			m.Duration = specString(m.Duration, s.Duration)
			m.Comment = types.StringValue(s.Comment)
			m.NotifyChannels = specStringList(ctx, m.NotifyChannels, s.NotifyChannels, &diags)
			return diags
		},
		configureError: specConfigureError("Silence", attrs),
		observe: func(m *silenceModel, st api.ObjectStatus[api.Silence, api.SilenceObserved], _ time.Time) {
			o := st.Observed
			m.Active = types.BoolValue(o.Active)
			m.WindowStart = types.StringValue(rfc3339(o.WindowStart))
			m.WindowEnd = types.StringValue(rfc3339(o.WindowEnd))
			l, _ := types.ListValueFrom(context.Background(), types.StringType, append([]string{}, o.Silenced...))
			m.Silenced = l
			m.Note = types.StringValue(o.Note)
		},
	}
}
