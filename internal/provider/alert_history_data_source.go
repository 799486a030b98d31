package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

var _ datasource.DataSourceWithConfigure = (*alertHistoryDataSource)(nil)

// NewAlertHistoryDataSource returns the steward_alert_history data source.
func NewAlertHistoryDataSource() datasource.DataSource { return &alertHistoryDataSource{} }

type alertHistoryDataSource struct {
	data *providerData
}

type alertHistoryModel struct {
	Host        types.Object `tfsdk:"host"`
	Rule        types.String `tfsdk:"rule"`
	State       types.String `tfsdk:"state"`
	Channel     types.String `tfsdk:"channel"`
	Since       types.String `tfsdk:"since"`
	Until       types.String `tfsdk:"until"`
	Limit       types.Int64  `tfsdk:"limit"`
	ID          types.String `tfsdk:"id"`
	At          types.String `tfsdk:"at"`
	Transitions types.List   `tfsdk:"transitions"`
	Deliveries  types.List   `tfsdk:"deliveries"`
}

var historyStates = []string{api.AlertInactive, api.AlertPending, api.AlertFiring, api.AlertResolved}

func alertHistorySchema() schema.Schema {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	strs := func(desc string) schema.ListAttribute {
		return schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: desc}
	}
	rfc3339Time := stringCheck{desc: "an RFC 3339 time such as \"2026-03-01T22:00:00Z\"",
		check: func(s string) error { _, err := time.Parse(time.RFC3339, s); return err }}
	name := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, MarkdownDescription: desc,
			Validators: []validator.String{stringvalidator.RegexMatches(api.ObjectNamePattern, "must be an object name: 1-63 lower-case letters, digits, '_' or '-'")}}
	}
	return schema.Schema{
		MarkdownDescription: "The alert history of a host, read from its agent's daemon: every state transition of its alerts " +
			"(inactive → pending → firing → resolved, with silenced and muted ones marked) and every delivery attempt of its " +
			"notification channels with its result and error. Every filter is optional; without any, everything the host keeps.",
		Attributes: map[string]schema.Attribute{
			"host": schema.SingleNestedAttribute{Required: true, Attributes: datasourceConnectionAttributes(),
				MarkdownDescription: "The host, usually `steward_host.<name>.host_connection`."},
			"rule": name("Only the transitions of this `steward_alert_rule`, and the deliveries that carried one of its alerts."),
			"state": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.OneOf(historyStates...)},
				MarkdownDescription: "Only the transitions into this state, one of " + codeList(historyStates) + ", and the deliveries that " +
					"carried an alert in it."},
			"channel": name("Only the deliveries of this `steward_notification_channel` (transitions are kept whatever it says)."),
			"since":   schema.StringAttribute{Optional: true, Validators: []validator.String{rfc3339Time}, MarkdownDescription: "Only entries at or after this time (RFC 3339)."},
			"until":   schema.StringAttribute{Optional: true, Validators: []validator.String{rfc3339Time}, MarkdownDescription: "Only entries at or before this time (RFC 3339)."},
			"limit": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(0, api.MaxAlertHistoryLimit)},
				MarkdownDescription: "Keep the newest `limit` transitions and the newest `limit` deliveries. Defaults to `0`: everything the host keeps."},
			"id": str("The host id."),
			"at": str("When the host answered (RFC 3339)."),
			"transitions": schema.ListNestedAttribute{Computed: true, MarkdownDescription: "State changes of the host's alerts, oldest first.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"time":        str("When (RFC 3339)."),
					"rule":        str("The rule."),
					"fingerprint": str("The alert (rule and labels), as in `steward_alert_rule`'s `alerts`."),
					"labels":      schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "The alert's labels."},
					"from":        str("The state it left."),
					"to":          str("The state it entered."),
					"value":       schema.Float64Attribute{Computed: true, MarkdownDescription: "The value compared."},
					"no_data":     schema.BoolAttribute{Computed: true, MarkdownDescription: "The series had no data."},
					"silenced":    strs("The silences that held its notification back."),
					"muted":       schema.BoolAttribute{Computed: true, MarkdownDescription: "Not notified because Steward was changing the host."},
					"reason":      str("Why, for a transition the values did not cause (`rule removed`, `rule changed`)."),
				}}},
			"deliveries": schema.ListNestedAttribute{Computed: true, MarkdownDescription: "Delivery records of the host's channels, oldest first.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"time":    str("When (RFC 3339)."),
					"channel": str("The channel."),
					"type":    str("Its type."),
					"event":   str("`notification`, `repeat`, `resend`, `test`, `heartbeat` or `queue`."),
					"result":  str("`delivered`, `failed` (retried), `rejected`, `dropped` or `damaged`."),
					"id":      str("The queued notification; every attempt at it has the same."),
					"attempt": schema.Int64Attribute{Computed: true, MarkdownDescription: "Which attempt at it."},
					"error":   str("The error of a failed attempt (an SMTP server's refusal, an HTTP status), empty otherwise."),
					"alerts": schema.ListNestedAttribute{Computed: true, MarkdownDescription: "The alerts it carried.",
						NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
							"rule": str("The rule."), "state": str("`firing` or `resolved`."), "fingerprint": str("The alert."),
						}}},
				}}},
		},
	}
}

var (
	historySchema           = alertHistorySchema()
	transitionAttrTypes     = historySchema.Attributes["transitions"].GetType().(types.ListType).ElemType.(types.ObjectType).AttrTypes //nolint:forcetypeassert // a list of objects, above
	deliveryAttrTypes       = historySchema.Attributes["deliveries"].GetType().(types.ListType).ElemType.(types.ObjectType).AttrTypes  //nolint:forcetypeassert // a list of objects, above
	deliveryAlertAttrTypes  = deliveryAttrTypes["alerts"].(types.ListType).ElemType.(types.ObjectType).AttrTypes                       //nolint:forcetypeassert // a list of objects, above
	deliveryAlertObjectType = types.ObjectType{AttrTypes: deliveryAlertAttrTypes}
)

func (d *alertHistoryDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_alert_history"
}

func (d *alertHistoryDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = alertHistorySchema()
}

func (d *alertHistoryDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *alertHistoryDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m alertHistoryModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	q := api.AlertHistoryParams{Rule: m.Rule.ValueString(), State: m.State.ValueString(), Channel: m.Channel.ValueString(), Limit: int(m.Limit.ValueInt64())}
	q.Since, _ = time.Parse(time.RFC3339, m.Since.ValueString()) // validated; empty is the zero time
	q.Until, _ = time.Parse(time.RFC3339, m.Until.ValueString())
	if err := q.Validate(); err != nil {
		for _, e := range flattenErrors(err) {
			resp.Diagnostics.AddAttributeError(path.Root(firstWord(e.Error())), "Invalid Alert History Filter", e.Error()+".")
		}
		return
	}
	res, diags := readFromAgent(ctx, d.data, m.Host, "Unable to Read Alert History", api.AlertHistory, q,
		func(r api.AlertHistoryResult) string { return r.HostID })
	if resp.Diagnostics.Append(diags...); resp.Diagnostics.HasError() {
		return
	}
	m.Transitions = transitionList(ctx, res.Transitions, &resp.Diagnostics)
	m.Deliveries = deliveryList(res.Deliveries, &resp.Diagnostics)
	m.ID = types.StringValue(res.HostID)
	m.At = types.StringValue(rfc3339(res.At))
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// firstWord is the attribute an api.AlertHistoryParams message names.
func firstWord(s string) string {
	for i, r := range s {
		if r == ' ' || r == ':' {
			return s[:i]
		}
	}
	return s
}

func transitionList(ctx context.Context, ts []api.AlertTransition, diags *diag.Diagnostics) types.List {
	items := make([]attr.Value, 0, len(ts))
	for _, t := range ts {
		labels, d := types.MapValueFrom(ctx, types.StringType, nonNilMap(t.Labels))
		diags.Append(d...)
		silenced, d := types.ListValueFrom(ctx, types.StringType, append([]string{}, t.Silenced...))
		diags.Append(d...)
		obj, d := types.ObjectValue(transitionAttrTypes, map[string]attr.Value{
			"time": types.StringValue(rfc3339(t.Time)), "rule": types.StringValue(t.Rule), "fingerprint": types.StringValue(t.Fingerprint),
			"labels": labels, "from": types.StringValue(t.From), "to": types.StringValue(t.To), "value": types.Float64Value(t.Value),
			"no_data": types.BoolValue(t.NoData), "silenced": silenced, "muted": types.BoolValue(t.Muted), "reason": types.StringValue(t.Reason),
		})
		diags.Append(d...)
		items = append(items, obj)
	}
	l, d := types.ListValue(types.ObjectType{AttrTypes: transitionAttrTypes}, items)
	diags.Append(d...)
	return l
}

func deliveryList(rs []api.DeliveryRecord, diags *diag.Diagnostics) types.List {
	items := make([]attr.Value, 0, len(rs))
	for _, r := range rs {
		alerts := make([]attr.Value, 0, len(r.Alerts))
		for _, a := range r.Alerts {
			obj, d := types.ObjectValue(deliveryAlertAttrTypes, map[string]attr.Value{
				"rule": types.StringValue(a.Rule), "state": types.StringValue(a.State), "fingerprint": types.StringValue(a.Fingerprint)})
			diags.Append(d...)
			alerts = append(alerts, obj)
		}
		al, d := types.ListValue(deliveryAlertObjectType, alerts)
		diags.Append(d...)
		obj, d := types.ObjectValue(deliveryAttrTypes, map[string]attr.Value{
			"time": types.StringValue(rfc3339(r.Time)), "channel": types.StringValue(r.Channel), "type": types.StringValue(r.Type),
			"event": types.StringValue(r.Event), "result": types.StringValue(r.Result), "id": types.StringValue(r.ID),
			"attempt": types.Int64Value(int64(r.Attempt)), "error": types.StringValue(r.Error), "alerts": al,
		})
		diags.Append(d...)
		items = append(items, obj)
	}
	l, d := types.ListValue(types.ObjectType{AttrTypes: deliveryAttrTypes}, items)
	diags.Append(d...)
	return l
}
