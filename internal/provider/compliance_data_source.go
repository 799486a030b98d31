package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

var _ datasource.DataSourceWithConfigure = (*complianceDataSource)(nil)

// NewComplianceDataSource returns the steward_compliance data source.
func NewComplianceDataSource() datasource.DataSource { return &complianceDataSource{} }

type complianceDataSource struct {
	data *providerData
}

type complianceModel struct {
	Host          types.Object  `tfsdk:"host"`
	Profile       types.String  `tfsdk:"profile"`
	ID            types.String  `tfsdk:"id"`
	Score         types.Float64 `tfsdk:"score"`
	Passed        types.Int64   `tfsdk:"passed"`
	Failed        types.Int64   `tfsdk:"failed"`
	Errors        types.Int64   `tfsdk:"errors"`
	NotApplicable types.Int64   `tfsdk:"not_applicable"`
	Off           types.Int64   `tfsdk:"off"`
	Controls      types.List    `tfsdk:"controls"`
}

var complianceControlAttrTypes = map[string]attr.Type{
	"profile": types.StringType, "id": types.StringType, "title": types.StringType, "family": types.StringType,
	"refs": types.ListType{ElemType: types.StringType}, "status": types.StringType, "expected": types.StringType,
	"actual": types.StringType, "source": types.StringType, "reason": types.StringType,
}

func (d *complianceDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_compliance"
}

func (d *complianceDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	count := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Computed: true, MarkdownDescription: desc}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "The compliance report of a host: every control of its hardening profiles, read live when the plan " +
			"runs, with the evidence (the effective value and where it comes from) and the benchmark references. " +
			"`not_applicable` and `off` controls are counted apart and never as passed. A review pipeline fails on it with a " +
			"`check` block.",
		Attributes: map[string]schema.Attribute{
			"host": schema.SingleNestedAttribute{Required: true, Attributes: datasourceConnectionAttributes(),
				MarkdownDescription: "The host, usually `steward_host.<name>.host_connection`."},
			"profile": schema.StringAttribute{Optional: true, MarkdownDescription: "Only this profile; unset reports them all."},
			"id":      str("`<host_id>`, or `<host_id>/<profile>`."),
			"score": schema.Float64Attribute{Computed: true,
				MarkdownDescription: "Passed controls as a percentage of those checked (passed, failed, error); 0 when none were."},
			"passed":         count("Controls that pass."),
			"failed":         count("Controls that fail."),
			"errors":         count("Controls that could not be read."),
			"not_applicable": count("Controls that do not apply to this host (each says why)."),
			"off":            count("Controls the profile switched off (each with its reason)."),
			"controls": schema.ListNestedAttribute{Computed: true, MarkdownDescription: "Every control, by profile, in catalogue order, then the profile's custom controls.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"profile":  str("The profile."),
					"id":       str("The control's id, e.g. `sshd.permit_root_login`."),
					"title":    str("What it ensures."),
					"family":   str("`sshd`, `sysctl`, `files`, or `custom` for a profile's `custom_control`."),
					"refs":     schema.ListAttribute{Computed: true, ElementType: types.StringType, MarkdownDescription: "Benchmark references (CIS Debian 12; a custom control's own `refs`)."},
					"status":   str("`pass`, `fail`, `error`, `not_applicable` or `off`."),
					"expected": str("The value the profile wants."),
					"actual":   str("The effective value read on the host."),
					"source":   str("Where it comes from: a file and line, `sshd -T`, a path."),
					"reason":   str("Why a control is not applicable, off, overridden, in error, or failing where Steward cannot fix it."),
				}}},
		},
	}
}

func (d *complianceDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *complianceDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m complianceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	rep, diags := readFromAgent(ctx, d.data, m.Host, "Unable to Read Compliance", api.ComplianceReport,
		api.ComplianceQuery{Profile: m.Profile.ValueString()}, func(c api.Compliance) string { return c.HostID })
	if resp.Diagnostics.Append(diags...); resp.Diagnostics.HasError() {
		return
	}
	m.ID = types.StringValue(rep.HostID)
	if p := m.Profile.ValueString(); p != "" {
		m.ID = types.StringValue(rep.HostID + "/" + p)
	}
	m.Score = types.Float64Value(rep.Score)
	m.Passed, m.Failed, m.Errors = types.Int64Value(int64(rep.Passed)), types.Int64Value(int64(rep.Failed)), types.Int64Value(int64(rep.Errors))
	m.NotApplicable, m.Off = types.Int64Value(int64(rep.NotApplicable)), types.Int64Value(int64(rep.Off))
	var rows []attr.Value
	for _, c := range rep.Controls {
		refs, dr := types.ListValueFrom(ctx, types.StringType, append([]string{}, c.Refs...))
		resp.Diagnostics.Append(dr...)
		row, dr := types.ObjectValue(complianceControlAttrTypes, map[string]attr.Value{
			"profile": types.StringValue(c.Profile), "id": types.StringValue(c.ID), "title": types.StringValue(c.Title),
			"family": types.StringValue(c.Family), "refs": refs, "status": types.StringValue(c.Status),
			"expected": types.StringValue(c.Expected), "actual": types.StringValue(c.Actual),
			"source": types.StringValue(c.Source), "reason": types.StringValue(c.Reason),
		})
		resp.Diagnostics.Append(dr...)
		rows = append(rows, row)
	}
	list, dl := types.ListValue(types.ObjectType{AttrTypes: complianceControlAttrTypes}, rows)
	resp.Diagnostics.Append(dl...)
	m.Controls = list
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
