package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

var _ datasource.DataSourceWithConfigure = (*backupsDataSource)(nil)

// NewBackupsDataSource returns the steward_backups data source.
func NewBackupsDataSource() datasource.DataSource { return &backupsDataSource{} }

type backupsDataSource struct {
	data *providerData
}

type backupsModel struct {
	Host      types.Object `tfsdk:"host"`
	Schedule  types.String `tfsdk:"schedule"`
	ID        types.String `tfsdk:"id"`
	Snapshots types.List   `tfsdk:"snapshots"`
}

var snapshotAttrTypes = map[string]attr.Type{
	"id": types.StringType, "time": types.StringType, "kind": types.StringType, "parent": types.StringType,
	"bytes": types.Int64Type, "files": types.Int64Type, "partial": types.BoolType, "verified": types.StringType,
	"recipient_fingerprints": types.ListType{ElemType: types.StringType},
}

func (d *backupsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_backups"
}

func (d *backupsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The catalog of one backup schedule on a host: every snapshot, oldest first, with its kind, chain parent, size and verification status.",
		Attributes: map[string]schema.Attribute{
			"host": schema.SingleNestedAttribute{Required: true, Attributes: datasourceConnectionAttributes(),
				MarkdownDescription: "The host, usually `steward_host.<name>.host_connection`."},
			"schedule": schema.StringAttribute{Required: true, MarkdownDescription: "The schedule's `name`.",
				Validators: []validator.String{stringvalidator.RegexMatches(api.ScheduleNamePattern, "must be a schedule name")}},
			"id": schema.StringAttribute{Computed: true, MarkdownDescription: "`<host_id>/<schedule>`."},
			"snapshots": schema.ListNestedAttribute{Computed: true, MarkdownDescription: "Snapshots, oldest first.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"id":       schema.StringAttribute{Computed: true, MarkdownDescription: "Snapshot ID (sorts by time)."},
					"time":     schema.StringAttribute{Computed: true, MarkdownDescription: "When it was taken (RFC 3339)."},
					"kind":     schema.StringAttribute{Computed: true, MarkdownDescription: "`full` or `incremental`."},
					"parent":   schema.StringAttribute{Computed: true, MarkdownDescription: "The snapshot an incremental builds on; empty for a full one."},
					"bytes":    schema.Int64Attribute{Computed: true, MarkdownDescription: "Size of the encrypted archive."},
					"files":    schema.Int64Attribute{Computed: true, MarkdownDescription: "Files stored in this snapshot."},
					"partial":  schema.BoolAttribute{Computed: true, MarkdownDescription: "Some files could not be read (see the agent's log)."},
					"verified": schema.StringAttribute{Computed: true, MarkdownDescription: "`ok`, `failed`, or empty when not verified yet."},
					"recipient_fingerprints": schema.ListAttribute{Computed: true, ElementType: types.StringType,
						MarkdownDescription: "Fingerprints (`SHA256:...`) of the public keys the snapshot is encrypted to, sorted; the schedule's " +
							"restore key is among them when it has a `passphrase_file`. Empty for snapshots made before Steward recorded them. " +
							"Compare with the schedule's `recipient_fingerprints` to find snapshots that need a retired key."},
				}}},
		},
	}
}

func (d *backupsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *backupsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m backupsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	list, diags := readFromAgent(ctx, d.data, m.Host, "Unable to List Backups", api.BackupCatalog, api.ObjectName{Name: m.Schedule.ValueString()},
		func(l api.BackupList) string { return l.HostID })
	if resp.Diagnostics.Append(diags...); resp.Diagnostics.HasError() {
		return
	}
	snaps := make([]attr.Value, 0, len(list.Snapshots))
	for _, s := range list.Snapshots {
		fps, d := types.ListValueFrom(ctx, types.StringType, append([]string{}, s.RecipientFingerprints...))
		resp.Diagnostics.Append(d...)
		obj, d := types.ObjectValue(snapshotAttrTypes, map[string]attr.Value{
			"recipient_fingerprints": fps,
			"id":                     types.StringValue(s.ID), "time": types.StringValue(rfc3339(s.Time)), "kind": types.StringValue(s.Kind),
			"parent": types.StringValue(s.Parent), "bytes": types.Int64Value(s.Bytes), "files": types.Int64Value(s.Files),
			"partial": types.BoolValue(s.Partial), "verified": types.StringValue(s.Verified),
		})
		resp.Diagnostics.Append(d...)
		snaps = append(snaps, obj)
	}
	l, d2 := types.ListValue(types.ObjectType{AttrTypes: snapshotAttrTypes}, snaps)
	resp.Diagnostics.Append(d2...)
	m.Snapshots = l
	m.ID = types.StringValue(list.HostID + "/" + m.Schedule.ValueString())
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
