package provider

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

var _ datasource.DataSourceWithConfigure = (*metricsDataSource)(nil)

// NewMetricsDataSource returns the steward_metrics data source.
func NewMetricsDataSource() datasource.DataSource { return &metricsDataSource{} }

type metricsDataSource struct {
	data *providerData
}

type metricsModel struct {
	Host    types.Object `tfsdk:"host"`
	Window  types.String `tfsdk:"window"`
	Select  types.Map    `tfsdk:"select"`
	ID      types.String `tfsdk:"id"`
	At      types.String `tfsdk:"at"`
	Results types.Map    `tfsdk:"results"`
}

type metricSelectModel struct {
	Name   types.String `tfsdk:"name"`
	Labels types.Map    `tfsdk:"labels"`
}

var metricSummaryAttrTypes = map[string]attr.Type{
	"labels": types.MapType{ElemType: types.StringType}, "samples": types.Int64Type, "last": types.Float64Type, "last_at": types.StringType,
	"min": types.Float64Type, "avg": types.Float64Type, "max": types.Float64Type, "p95": types.Float64Type, "rate": types.Float64Type,
}

var metricResultAttrTypes = map[string]attr.Type{
	"series": types.ListType{ElemType: types.ObjectType{AttrTypes: metricSummaryAttrTypes}},
}

const defaultMetricsWindow = "1h"

func (d *metricsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_metrics"
}

func (d *metricsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	summary := func(desc string) schema.Float64Attribute {
		return schema.Float64Attribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Current values and summaries over a window of the metrics a host's agent collects, read from the history on the " +
			"host. Made for review pipelines that assert host health with Terraform `check` blocks, e.g. the root file system under 90 % used.",
		Attributes: map[string]schema.Attribute{
			"host": schema.SingleNestedAttribute{Required: true, Attributes: datasourceConnectionAttributes(),
				MarkdownDescription: "The host, usually `steward_host.<name>.host_connection`."},
			"window": schema.StringAttribute{Optional: true,
				MarkdownDescription: "How far back the summaries reach, ending at the read. Defaults to `" + defaultMetricsWindow + "`; at most `400d`.",
				Validators:          []validator.String{longDurationValidator}},
			"select": schema.MapNestedAttribute{Required: true,
				MarkdownDescription: "The metrics to read, each under a key of your choice (lower-case letters, digits and `_`); `results` has the same keys.",
				Validators: []validator.Map{mapvalidator.SizeBetween(1, 64), mapvalidator.KeysAre(stringCheck{
					desc:  "a key of lower-case letters, digits and _ starting with a letter",
					check: func(s string) error { return selectKeyCheck(s) },
				})},
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name": schema.StringAttribute{Required: true,
						MarkdownDescription: "The metric, e.g. `node_filesystem_avail_bytes` (node_exporter's names for host metrics).",
						Validators:          []validator.String{stringCheck{desc: "a Prometheus metric name", check: api.CheckMetricName}}},
					"labels": schema.MapAttribute{Optional: true, ElementType: types.StringType,
						MarkdownDescription: "Label values the series must have, e.g. `{ mountpoint = \"/\" }`."},
				}}},
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "The host id."},
			"at": schema.StringAttribute{Computed: true, MarkdownDescription: "When the host answered (RFC 3339); the window ends there."},
			"results": schema.MapNestedAttribute{Computed: true,
				MarkdownDescription: "For each key of `select`, the matching series, sorted by their labels (empty when none matched in the window).",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"series": schema.ListNestedAttribute{Computed: true, MarkdownDescription: "One entry per matching series.",
						NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
							"labels": schema.MapAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "The series' labels."},
							"samples": schema.Int64Attribute{Computed: true,
								MarkdownDescription: "Samples in the window (from roll-ups for windows past the raw history)."},
							"last":    summary("The newest value."),
							"last_at": schema.StringAttribute{Computed: true, MarkdownDescription: "When the newest value was collected (RFC 3339)."},
							"min":     summary("The lowest value in the window."),
							"avg":     summary("The average over the window."),
							"max":     summary("The highest value in the window."),
							"p95":     summary("The 95th percentile (exact within the raw history, from roll-ups beyond it)."),
							"rate":    summary("For a counter, the per-second increase over the window (resets counted)."),
						}}},
				}}},
		},
	}
}

// selectKeyCheck mirrors api.MetricsQueryParams.Validate's rule for keys.
func selectKeyCheck(s string) error {
	p := api.MetricsQueryParams{Window: "1h", Select: map[string]api.MetricSelector{s: {Name: "x"}}}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%q is not accepted", s)
	}
	return nil
}

func (d *metricsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (ds *metricsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m metricsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	q := api.MetricsQueryParams{Window: defaultMetricsWindow, Select: map[string]api.MetricSelector{}}
	if !m.Window.IsNull() {
		q.Window = m.Window.ValueString()
	}
	var sel map[string]metricSelectModel
	resp.Diagnostics.Append(m.Select.ElementsAs(ctx, &sel, false)...)
	for key, s := range sel {
		labels := map[string]string{}
		if !s.Labels.IsNull() {
			resp.Diagnostics.Append(s.Labels.ElementsAs(ctx, &labels, false)...)
		}
		q.Select[key] = api.MetricSelector{Name: s.Name.ValueString(), Labels: labels}
	}
	if resp.Diagnostics.HasError() {
		return
	}
	res, diags := readFromAgent(ctx, ds.data, m.Host, "Unable to Read Metrics", api.MetricsQuery, q,
		func(r api.MetricsQueryResult) string { return r.HostID })
	if resp.Diagnostics.Append(diags...); resp.Diagnostics.HasError() {
		return
	}
	results := map[string]attr.Value{}
	for _, key := range slices.Sorted(maps.Keys(q.Select)) {
		series := res.Results[key]
		slices.SortFunc(series, func(a, b api.MetricSummary) int {
			return strings.Compare(api.AlertLabelsString(a.Labels), api.AlertLabelsString(b.Labels))
		})
		items := make([]attr.Value, 0, len(series))
		for _, s := range series {
			labels, d := types.MapValueFrom(ctx, types.StringType, s.Labels)
			resp.Diagnostics.Append(d...)
			obj, d := types.ObjectValue(metricSummaryAttrTypes, map[string]attr.Value{
				"labels": labels, "samples": types.Int64Value(int64(s.Samples)), "last": types.Float64Value(s.Last),
				"last_at": types.StringValue(rfc3339(s.LastAt)), "min": types.Float64Value(s.Min), "avg": types.Float64Value(s.Avg),
				"max": types.Float64Value(s.Max), "p95": types.Float64Value(s.P95), "rate": types.Float64Value(s.Rate),
			})
			resp.Diagnostics.Append(d...)
			items = append(items, obj)
		}
		list, d := types.ListValue(types.ObjectType{AttrTypes: metricSummaryAttrTypes}, items)
		resp.Diagnostics.Append(d...)
		obj, d := types.ObjectValue(metricResultAttrTypes, map[string]attr.Value{"series": list})
		resp.Diagnostics.Append(d...)
		results[key] = obj
	}
	rm, diags := types.MapValue(types.ObjectType{AttrTypes: metricResultAttrTypes}, results)
	resp.Diagnostics.Append(diags...)
	m.Results = rm
	m.ID = types.StringValue(res.HostID)
	m.At = types.StringValue(rfc3339(res.At))
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
