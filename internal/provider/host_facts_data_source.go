package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var _ datasource.DataSourceWithConfigure = (*hostFactsDataSource)(nil)

// NewHostFactsDataSource returns the steward_host_facts data source.
func NewHostFactsDataSource() datasource.DataSource { return &hostFactsDataSource{} }

type hostFactsDataSource struct {
	data *providerData
}

type hostFactsModel struct {
	Host               types.Object `tfsdk:"host"`
	ID                 types.String `tfsdk:"id"`
	Hostname           types.String `tfsdk:"hostname"`
	HostID             types.String `tfsdk:"host_id"`
	OSID               types.String `tfsdk:"os_id"`
	OSVersion          types.String `tfsdk:"os_version"`
	OSName             types.String `tfsdk:"os_name"`
	Kernel             types.String `tfsdk:"kernel"`
	Architecture       types.String `tfsdk:"architecture"`
	CPUCount           types.Int64  `tfsdk:"cpu_count"`
	MemoryBytes        types.Int64  `tfsdk:"memory_bytes"`
	UptimeSeconds      types.Int64  `tfsdk:"uptime_seconds"`
	InitSystem         types.String `tfsdk:"init_system"`
	HostKey            types.String `tfsdk:"host_key"`
	HostKeyFingerprint types.String `tfsdk:"host_key_fingerprint"`
	ClientAddress      types.String `tfsdk:"client_address"`
}

func (d *hostFactsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_host_facts"
}

func (d *hostFactsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = hostFactsDataSourceSchemaV0()
}

func hostFactsDataSourceSchemaV0() schema.Schema {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	computedInt := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Computed: true, MarkdownDescription: desc}
	}
	return schema.Schema{
		MarkdownDescription: "Facts about a host, read over SSH in one round trip. Needs no agent on the host: " +
			"use it to check a host before deploying to it, or to learn the host key to pin.",
		Attributes: map[string]schema.Attribute{
			// Required.
			"host": schema.SingleNestedAttribute{
				Required: true,
				MarkdownDescription: "How to reach the host. Fields left unset are taken from the provider's `default_connection`. " +
					"Takes `steward_host.<name>.host_connection` as is.",
				Attributes: datasourceConnectionAttributes(),
			},
			// Computed.
			"id":                   computed("The host id (`/etc/machine-id`)."),
			"host_id":              computed("The host's `/etc/machine-id`, Steward's identity of the host."),
			"hostname":             computed("The kernel host name."),
			"os_id":                computed("`ID` from `/etc/os-release`, e.g. `debian`."),
			"os_version":           computed("`VERSION_ID` from `/etc/os-release`, e.g. `12`."),
			"os_name":              computed("`PRETTY_NAME` from `/etc/os-release`."),
			"kernel":               computed("Kernel release (`uname -r`)."),
			"architecture":         computed("Machine architecture (`uname -m`), e.g. `x86_64` or `aarch64`."),
			"cpu_count":            computedInt("Online CPUs."),
			"memory_bytes":         computedInt("Total memory in bytes."),
			"uptime_seconds":       computedInt("Seconds since boot."),
			"init_system":          computed("`systemd`, or the name of PID 1 when it is something else."),
			"host_key":             computed("The host key that was verified, in authorized_keys format: pin it as `host_key`."),
			"host_key_fingerprint": computed("SHA256 fingerprint of `host_key`, as `ssh-keygen -lf` prints it."),
			"client_address":       computed("The address the host sees Steward connect from (the last bastion's, when going through bastions)."),
		},
	}
}

func (d *hostFactsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *hostFactsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m hostFactsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	conn, expectedID, diags := d.data.connect(ctx, path.Root("host"), m.Host)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	facts, err := conn.Facts(ctx)
	if err != nil {
		resp.Diagnostics.Append(connectionDiagnostic(path.Root("host"), err))
		return
	}
	if expectedID != "" && facts.HostID != expectedID {
		resp.Diagnostics.Append(hostIDMismatch(path.Root("host").AtName("host_id"), conn.Address(), expectedID, facts.HostID))
		return
	}
	m.ID = types.StringValue(facts.HostID)
	m.HostID = types.StringValue(facts.HostID)
	m.Hostname = types.StringValue(facts.Hostname)
	m.OSID = types.StringValue(facts.OSID)
	m.OSVersion = types.StringValue(facts.OSVersion)
	m.OSName = types.StringValue(facts.OSName)
	m.Kernel = types.StringValue(facts.Kernel)
	m.Architecture = types.StringValue(facts.Architecture)
	m.CPUCount = types.Int64Value(facts.CPUCount)
	m.MemoryBytes = types.Int64Value(facts.MemoryBytes)
	m.UptimeSeconds = types.Int64Value(facts.UptimeSeconds)
	m.InitSystem = types.StringValue(facts.InitSystem)
	m.HostKey = types.StringValue(conn.HostKey())
	m.HostKeyFingerprint = types.StringValue(conn.HostKeyFingerprint())
	m.ClientAddress = types.StringValue(facts.ClientAddress)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
