package provider

import (
	"context"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// monitoringModel is steward_host's monitoring block, api.Monitoring in HCL.
type monitoringModel struct {
	Interval       types.String `tfsdk:"interval"`
	Units          types.Set    `tfsdk:"units"`
	TextfileMaxAge types.String `tfsdk:"textfile_max_age"`
	HistoryRaw     types.String `tfsdk:"history_raw"`
	HistoryMinute  types.String `tfsdk:"history_minute"`
	HistoryHour    types.String `tfsdk:"history_hour"`
	MaxSeries      types.Int64  `tfsdk:"max_series"`
	WebConfigFile  types.String `tfsdk:"web_config_file"`
}

func monitoringAttribute() schema.SingleNestedAttribute {
	duration := func(desc, def string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, MarkdownDescription: desc + " Defaults to `" + def + "`.",
			Validators: []validator.String{longDurationValidator}}
	}
	return schema.SingleNestedAttribute{
		Optional: true,
		MarkdownDescription: "What the agent daemon collects, how long it keeps it on the host, and who may read it. Without this " +
			"block every default applies: collection every 10 s, history for 48 h at full resolution, 30 days of 1-minute and 400 days " +
			"of 1-hour roll-ups. Written to `/etc/steward/agent.json`, so an edit by hand shows in `config_sha256`.",
		Attributes: map[string]schema.Attribute{
			"interval": duration("Time between two collections.", api.DefaultMonitoringInterval),
			"units": schema.SetAttribute{Optional: true, ElementType: types.StringType,
				MarkdownDescription: "systemd units whose state is collected (`node_systemd_unit_state`), e.g. `[\"nginx.service\"]`.",
				Validators: []validator.Set{setvalidator.ValueStringsAre(stringCheck{
					desc:  "a systemd unit name with its type, such as \"nginx.service\"",
					check: func(s string) error { return api.Monitoring{Units: []string{s}}.Validate() },
				})}},
			"textfile_max_age": duration("How old a `*.prom` file in `"+api.TextfileDir+"` may be before its samples count as no data.", api.DefaultTextfileMaxAge),
			"history_raw":      duration("How long every sample is kept at the collection interval.", api.DefaultHistoryRaw),
			"history_minute":   duration("How long 1-minute roll-ups (min, avg, max) are kept.", api.DefaultHistoryMinute),
			"history_hour":     duration("How long 1-hour roll-ups are kept.", api.DefaultHistoryHour),
			"max_series": schema.Int64Attribute{Optional: true,
				MarkdownDescription: "The most series the history keeps; series past it are counted and not stored. Defaults to " +
					"the value the monitoring guide states the store's size bound for.",
				Validators: []validator.Int64{int64validator.Between(1, 100000)}},
			"web_config_file": schema.StringAttribute{Optional: true,
				MarkdownDescription: "A Prometheus [web configuration](https://prometheus.io/docs/prometheus/latest/configuration/https/) " +
					"file on the host (root-owned, not writable by others) with `tls_server_config` and `basic_auth_users`. Required when " +
					"`listen_address` is not a loopback address; the agent then serves HTTPS with basic auth. A path, never a secret: " +
					"nothing of it reaches Terraform state.",
				Validators: []validator.String{stringCheck{
					desc:  "a clean absolute path on the host, such as \"/etc/steward/web.yml\"",
					check: func(s string) error { return api.Monitoring{WebConfigFile: s}.Validate() },
				}}},
		},
	}
}

func monitoringAttrTypes() map[string]attr.Type {
	return map[string]attr.Type{
		"interval": types.StringType, "units": types.SetType{ElemType: types.StringType}, "textfile_max_age": types.StringType,
		"history_raw": types.StringType, "history_minute": types.StringType, "history_hour": types.StringType,
		"max_series": types.Int64Type, "web_config_file": types.StringType,
	}
}

// monitoringFromModel is the api.Monitoring of a configured block; nil when
// the block is absent. ok is false while a value is unknown.
func monitoringFromModel(ctx context.Context, o types.Object, diags *diag.Diagnostics) (m *api.Monitoring, ok bool) {
	if o.IsNull() {
		return nil, true
	}
	if o.IsUnknown() {
		return nil, false
	}
	var mm monitoringModel
	diags.Append(o.As(ctx, &mm, basetypes.ObjectAsOptions{})...)
	for _, v := range []attr.Value{mm.Interval, mm.Units, mm.TextfileMaxAge, mm.HistoryRaw, mm.HistoryMinute, mm.HistoryHour, mm.MaxSeries, mm.WebConfigFile} {
		if v.IsUnknown() {
			return nil, false
		}
	}
	return &api.Monitoring{
		Interval: mm.Interval.ValueString(), Units: stringSet(ctx, mm.Units, diags), TextfileMaxAge: mm.TextfileMaxAge.ValueString(),
		HistoryRaw: mm.HistoryRaw.ValueString(), HistoryMinute: mm.HistoryMinute.ValueString(), HistoryHour: mm.HistoryHour.ValueString(),
		MaxSeries: int(mm.MaxSeries.ValueInt64()), WebConfigFile: mm.WebConfigFile.ValueString(),
	}, true
}

// monitoringToModel is the block for what agent.json on the host says.
func monitoringToModel(ctx context.Context, m *api.Monitoring, diags *diag.Diagnostics) types.Object {
	if m == nil {
		return types.ObjectNull(monitoringAttrTypes())
	}
	str := func(s string) types.String {
		if s == "" {
			return types.StringNull()
		}
		return types.StringValue(s)
	}
	units := types.SetNull(types.StringType)
	if len(m.Units) > 0 {
		var d diag.Diagnostics
		units, d = types.SetValueFrom(ctx, types.StringType, m.Units)
		diags.Append(d...)
	}
	series := types.Int64Null()
	if m.MaxSeries != 0 {
		series = types.Int64Value(int64(m.MaxSeries))
	}
	o, d := types.ObjectValueFrom(ctx, monitoringAttrTypes(), monitoringModel{
		Interval: str(m.Interval), Units: units, TextfileMaxAge: str(m.TextfileMaxAge),
		HistoryRaw: str(m.HistoryRaw), HistoryMinute: str(m.HistoryMinute), HistoryHour: str(m.HistoryHour),
		MaxSeries: series, WebConfigFile: str(m.WebConfigFile),
	})
	diags.Append(d...)
	return o
}

// agentConfigFor is the agent.json a deployment writes for plan; ok is
// false while part of it is unknown.
func agentConfigFor(ctx context.Context, hostID string, plan hostResourceModel, diags *diag.Diagnostics) (api.AgentConfig, bool) {
	mon, ok := monitoringFromModel(ctx, plan.Monitoring, diags)
	cfg := api.AgentConfig{HostID: hostID, ListenAddress: plan.ListenAddress.ValueString(),
		HeartbeatInterval: plan.HeartbeatInterval.ValueString(), Monitoring: mon}
	return cfg, ok && !plan.ListenAddress.IsUnknown() && !plan.HeartbeatInterval.IsUnknown()
}

// ValidateConfig checks what spans attributes: the monitoring bounds
// together, and a listen address beyond loopback only with a web
// configuration (TLS and basic auth).
func (r *hostResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m hostResourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	mon, ok := monitoringFromModel(ctx, m.Monitoring, &resp.Diagnostics)
	if !ok {
		return
	}
	// Each field on its own is the attribute validators' (a duration that
	// does not parse among them); here, how they relate.
	if _, _, _, _, _, err := mon.WithDefaults().Durations(); err == nil && mon != nil {
		if err := mon.CheckBounds(); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("monitoring"), "Invalid Monitoring Settings",
				"monitoring: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		}
	}
	if m.ListenAddress.IsNull() || m.ListenAddress.IsUnknown() {
		return
	}
	web := ""
	if mon != nil {
		web = mon.WebConfigFile
	}
	if err := api.CheckListen(m.ListenAddress.ValueString(), web); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("listen_address"), "Invalid Attribute Value",
			"listen_address must be a loopback host:port address such as \"127.0.0.1:9276\", or come with monitoring.web_config_file: "+err.Error())
	}
}
