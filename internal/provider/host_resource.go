package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os/user"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/agentbin"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

var (
	_ resource.ResourceWithConfigure      = (*hostResource)(nil)
	_ resource.ResourceWithImportState    = (*hostResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*hostResource)(nil)
	_ resource.ResourceWithValidateConfig = (*hostResource)(nil)
)

// NewHostResource returns the steward_host resource.
func NewHostResource() resource.Resource { return &hostResource{} }

type hostResource struct {
	data *providerData
}

type hostResourceModel struct {
	Host              types.Object `tfsdk:"host"`
	Packages          types.Set    `tfsdk:"packages"`
	PreDeploy         types.List   `tfsdk:"pre_deploy"`
	PostDeploy        types.List   `tfsdk:"post_deploy"`
	ListenAddress     types.String `tfsdk:"listen_address"`
	HeartbeatInterval types.String `tfsdk:"heartbeat_interval"`
	HealthTimeout     types.String `tfsdk:"health_timeout"`
	PurgeOnDestroy    types.Bool   `tfsdk:"purge_on_destroy"`
	Monitoring        types.Object `tfsdk:"monitoring"`

	ID              types.String `tfsdk:"id"`
	HostID          types.String `tfsdk:"host_id"`
	Hostname        types.String `tfsdk:"hostname"`
	OSID            types.String `tfsdk:"os_id"`
	OSVersion       types.String `tfsdk:"os_version"`
	Architecture    types.String `tfsdk:"architecture"`
	HostKey         types.String `tfsdk:"host_key"`
	AgentVersion    types.String `tfsdk:"agent_version"`
	AgentSHA256     types.String `tfsdk:"agent_sha256"`
	ConfigSHA256    types.String `tfsdk:"config_sha256"`
	ServiceActive   types.Bool   `tfsdk:"service_active"`
	ServiceEnabled  types.Bool   `tfsdk:"service_enabled"`
	PackageVersions types.Map    `tfsdk:"package_versions"`
	UnitSHA256      types.String `tfsdk:"unit_sha256"`
	UnitState       types.Map    `tfsdk:"unit_state"`
	Files           types.Map    `tfsdk:"files"`
	DeployedAt      types.String `tfsdk:"deployed_at"`
	Connection      types.Object `tfsdk:"host_connection"`
}

const (
	defaultListenAddress     = "127.0.0.1:9276"
	defaultHeartbeatInterval = "10s"
	defaultHealthTimeout     = "60s"
)

var packageNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9+._-]*$`)

func (r *hostResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_host"
}

func (r *hostResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = hostResourceSchemaV0()
}

func hostResourceSchemaV0() schema.Schema {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc, PlanModifiers: keep}
	}
	return schema.Schema{
		MarkdownDescription: "A host managed by Steward: the `steward-agent` deployed, configured, running as a systemd service " +
			"and proven healthy, plus the packages it needs. The lifecycle is preflight → dependencies → agent → configuration → " +
			"service → health; an upgrade that fails its health check is rolled back. `terraform plan` shows drift when the service " +
			"is stopped or disabled, the agent binary replaced or deleted, `/etc/steward/agent.json` edited, or a listed package removed.",
		Attributes: map[string]schema.Attribute{
			// Required.
			"host": schema.SingleNestedAttribute{
				Required: true,
				MarkdownDescription: "How to reach the host. Fields left unset are taken from the provider's `default_connection`. " +
					"With `trust_on_first_use`, the key seen at creation is pinned in state and required from then on.",
				Attributes: resourceConnectionAttributes(false),
			},
			// Optional.
			"packages": schema.SetAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Packages to install with the host's package manager (apt or dnf). Installed versions are recorded in " +
					"`package_versions`. Destroying the resource leaves them installed: they may be in use.",
				Validators: []validator.Set{setvalidator.ValueStringsAre(stringvalidator.RegexMatches(packageNamePattern,
					"must be a package name: lower-case letters, digits and + . _ - (e.g. \"nginx\", \"libpq5\")"))},
			},
			"pre_deploy": schema.ListAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Shell commands run in order (as root when `sudo` is set) before each deployment; one that fails stops the apply and its output is shown.",
			},
			"post_deploy": schema.ListAttribute{
				Optional: true, ElementType: types.StringType,
				MarkdownDescription: "Shell commands run in order after the agent is healthy; one that fails fails the apply and its output is shown.",
			},
			"listen_address": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(defaultListenAddress),
				MarkdownDescription: "Address the agent daemon serves `/healthz`, `/metrics` and its status page on. Defaults to `" + defaultListenAddress + "`. " +
					"A loopback address (`127.0.0.0/8`, `::1`, `localhost`) is served without TLS or authentication; any other address " +
					"requires `monitoring.web_config_file` (HTTPS with basic auth), and a plan without it is refused.",
				Validators: []validator.String{listenAddressValidator},
			},
			"heartbeat_interval": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(defaultHeartbeatInterval),
				MarkdownDescription: "How often the daemon records that it is alive. Defaults to `" + defaultHeartbeatInterval + "`.",
				Validators:          []validator.String{durationValidator},
			},
			"health_timeout": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(defaultHealthTimeout),
				MarkdownDescription: "How long a deployment may take to become healthy before it fails (and an upgrade is rolled back). Defaults to `" + defaultHealthTimeout + "`.",
				Validators:          []validator.String{durationValidator},
			},
			"monitoring": monitoringAttribute(),
			"purge_on_destroy": schema.BoolAttribute{
				Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				MarkdownDescription: "On destroy, also remove `/var/lib/steward` and the audit log. Defaults to `false`: they stay.",
			},
			// Computed.
			"id":           computed("The host id (`/etc/machine-id`)."),
			"host_id":      computed("The host's `/etc/machine-id`. Every later call checks it: an address that now answers as another machine is an error."),
			"hostname":     computed("The host name at the last read."),
			"os_id":        computed("`ID` from `/etc/os-release`."),
			"os_version":   computed("`VERSION_ID` from `/etc/os-release`."),
			"architecture": computed("`uname -m`; selects the agent build."),
			"host_key":     computed("The host key verified at creation (pinned when `trust_on_first_use` is used)."),
			"agent_version": schema.StringAttribute{Computed: true,
				MarkdownDescription: "Version of the agent the host runs. A provider upgrade that carries a new agent shows here as a change."},
			"agent_sha256": schema.StringAttribute{Computed: true,
				MarkdownDescription: "SHA-256 of the agent binary the host runs; empty when it was deleted. A replaced binary shows here as drift."},
			"config_sha256": schema.StringAttribute{Computed: true,
				MarkdownDescription: "SHA-256 of `/etc/steward/agent.json` on the host; an edit by hand shows here as drift."},
			"service_active": schema.BoolAttribute{Computed: true,
				MarkdownDescription: "Whether `steward-agent.service` is running. A stopped service shows here as drift."},
			"service_enabled": schema.BoolAttribute{Computed: true,
				MarkdownDescription: "Whether `steward-agent.service` starts at boot. A disabled service shows here as drift."},
			"package_versions": schema.MapAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Installed version of each of `packages`; empty when it is not installed (drift)."},
			"unit_sha256": schema.StringAttribute{Computed: true,
				MarkdownDescription: "SHA-256 of `" + api.UnitFile + "` on the host; empty when it is missing. An edit by hand shows here as drift."},
			"unit_state": schema.MapAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "How systemd has loaded `" + api.ServiceName + "` (`LoadState`, `FragmentPath`, `NeedDaemonReload` as `systemctl show` " +
					"reports them): a masked unit, a unit loaded from another file, or one changed on disk but not reloaded shows here as drift."},
			"files": schema.MapAttribute{Computed: true, ElementType: types.StringType,
				MarkdownDescription: "Kind, mode and owner (`uid:gid`) of every path Steward puts on the host, or where it links to, keyed by path; " +
					"plus every drop-in that changes `" + api.ServiceName + "`. A changed mode or owner, a deleted path, or a drop-in shows here as drift; " +
					"the next apply restores the path and disables the drop-in (renamed, not deleted)."},
			"deployed_at": schema.StringAttribute{Computed: true,
				MarkdownDescription: "When Steward last deployed to the host (RFC 3339)."},
			"host_connection": schema.SingleNestedAttribute{
				Computed: true, Sensitive: true,
				MarkdownDescription: "The connection to this host with its host key pinned and its `host_id` set: pass it to other Steward " +
					"resources as `host = steward_host.<name>.host_connection`.",
				Attributes: resourceConnectionAttributes(true),
			},
		},
	}
}

var listenAddressValidator = stringCheck{
	desc: "a loopback host:port address such as \"127.0.0.1:9276\" or \"[::1]:9276\" (any host:port with monitoring.web_config_file)",
	check: func(s string) error {
		_, port, err := net.SplitHostPort(s)
		if err != nil {
			return err
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not between 1 and 65535", port)
		}
		return nil // Loopback or not: ValidateConfig, which sees the monitoring block.
	},
}

func (r *hostResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ModifyPlan turns what Read found on the host into planned changes: the
// computed attributes are planned at their desired values, so a stopped
// service, a replaced binary, an edited config or a removed package shows as
// an update in `terraform plan` (and -detailed-exitcode exits 2).
func (r *hostResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan, state hostResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	creating := req.State.Raw.IsNull()
	if !creating {
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if resp.Diagnostics.HasError() {
			return
		}
	}
	arch := "x86_64"
	if !creating && state.Architecture.ValueString() != "" {
		arch = state.Architecture.ValueString()
	}
	bin, err := agentbin.For(arch)
	if err != nil {
		resp.Diagnostics.AddError("Agent Binaries Missing", err.Error())
		return
	}
	plan.AgentVersion = types.StringValue(bin.Version)
	plan.ServiceActive = types.BoolValue(true)
	plan.ServiceEnabled = types.BoolValue(true)
	if creating {
		plan.AgentSHA256 = types.StringUnknown()
		plan.ConfigSHA256 = types.StringUnknown()
		plan.PackageVersions = types.MapUnknown(types.StringType)
		plan.UnitSHA256 = types.StringUnknown()
		plan.UnitState = types.MapUnknown(types.StringType)
		plan.Files = types.MapUnknown(types.StringType)
		plan.DeployedAt = types.StringUnknown()
		plan.Connection = types.ObjectUnknown(connectionAttrTypes())
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	plan.AgentSHA256 = types.StringValue(bin.SHA256)
	resp.Diagnostics.Append(wantedInstallation(bin).setIn(ctx, &plan)...)
	if cfg, ok := agentConfigFor(ctx, state.HostID.ValueString(), plan, &resp.Diagnostics); ok {
		sum := sha256.Sum256(cfg.Render())
		plan.ConfigSHA256 = types.StringValue(hex.EncodeToString(sum[:]))
	} else {
		plan.ConfigSHA256 = types.StringUnknown()
	}
	var wanted []string
	if !plan.Packages.IsUnknown() {
		resp.Diagnostics.Append(plan.Packages.ElementsAs(ctx, &wanted, false)...)
	}
	versions := map[string]string{}
	resp.Diagnostics.Append(state.PackageVersions.ElementsAs(ctx, &versions, false)...)
	missing := slices.ContainsFunc(wanted, func(p string) bool { return versions[p] == "" })
	if plan.Packages.IsUnknown() || missing || len(versions) != len(wanted) {
		plan.PackageVersions = types.MapUnknown(types.StringType)
	} else {
		plan.PackageVersions = state.PackageVersions
	}
	if plan.Host.Equal(state.Host) {
		plan.Connection = state.Connection
	} else {
		plan.Connection = types.ObjectUnknown(connectionAttrTypes())
	}
	// Any difference from the state, in whatever attribute, is a deployment:
	// compared as a whole, so a new attribute needs no entry in a list here.
	plan.DeployedAt = state.DeployedAt
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	if resp.Diagnostics.HasError() || resp.Plan.Raw.Equal(req.State.Raw) {
		return
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("deployed_at"), types.StringUnknown())...)
}

func (r *hostResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan hostResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.deploy(ctx, &plan, nil)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *hostResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state hostResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.deploy(ctx, &plan, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *hostResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state hostResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	conn, expectedID, diags := r.connect(ctx, &state)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	wanted := stringSet(ctx, state.Packages, &resp.Diagnostics)
	live, err := inspectHost(ctx, conn, conn.Operator(localUser()), wanted)
	if err != nil {
		resp.Diagnostics.Append(connectionDiagnostic(path.Root("host"), err))
		return
	}
	if expectedID != "" && live.HostID != expectedID {
		resp.Diagnostics.Append(hostIDMismatch(path.Root("host"), conn.Address(), expectedID, live.HostID))
		return
	}
	importing := state.HostID.IsNull()
	if !live.installed() {
		if importing {
			resp.Diagnostics.AddError("Host Not Managed by Steward",
				fmt.Sprintf("%s has no steward-agent installed, so there is nothing to import. Create the resource instead.", conn.Address()))
			return
		}
		// Everything Steward installed is gone: Terraform plans to create it again.
		resp.State.RemoveResource(ctx)
		return
	}
	if importing { // fill what only the host knows
		facts, err := conn.Facts(ctx)
		if err != nil {
			resp.Diagnostics.Append(connectionDiagnostic(path.Root("host"), err))
			return
		}
		setFacts(&state, facts, conn.HostKey())
		state.DeployedAt = types.StringValue("")
		if state.HealthTimeout.IsNull() {
			state.HealthTimeout = types.StringValue(defaultHealthTimeout)
		}
		if state.PurgeOnDestroy.IsNull() {
			state.PurgeOnDestroy = types.BoolValue(false)
		}
	}
	state.Hostname = types.StringValue(live.Hostname)
	resp.Diagnostics.Append(applyLiveState(ctx, &state, live)...)
	resp.Diagnostics.Append(setConnection(&state)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *hostResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state hostResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	conn, _, diags := r.connect(ctx, &state)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(uninstall(ctx, conn, state.PurgeOnDestroy.ValueBool())...)
}

// ImportState takes "user@host:port" (user and port optional); authentication
// and host-key trust come from the provider's default_connection.
func (r *hostResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	obj, diags := importHostObject(req.ID)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("host"), obj)...)
}

// importHostObject turns "[user@]host[:port]" into a connection object whose
// other fields come from the provider's default_connection.
func importHostObject(id string) (types.Object, diag.Diagnostics) {
	var diags diag.Diagnostics
	userName, hostPort, hasUser := strings.Cut(id, "@")
	if !hasUser {
		userName, hostPort = "", id
	}
	host, port := hostPort, ""
	if h, p, err := net.SplitHostPort(hostPort); err == nil {
		host, port = h, p
	}
	attrTypes := connectionAttrTypes()
	if host == "" || strings.ContainsAny(host, " /@") {
		diags.AddError("Invalid Import ID", fmt.Sprintf("Expected \"[user@]host[:port]\", e.g. \"deploy@10.0.0.5:22\", got %q.", id))
		return types.ObjectNull(attrTypes), diags
	}
	fields := map[string]attr.Value{}
	for name, t := range attrTypes {
		fields[name] = nullOf(t)
	}
	fields["host"] = types.StringValue(host)
	if userName != "" {
		fields["user"] = types.StringValue(userName)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			diags.AddError("Invalid Import ID", fmt.Sprintf("Port %q must be between 1 and 65535.", port))
			return types.ObjectNull(attrTypes), diags
		}
		fields["port"] = types.Int64Value(int64(n))
	}
	obj, d := types.ObjectValue(attrTypes, fields)
	diags.Append(d...)
	return obj, diags
}

func nullOf(t attr.Type) attr.Value {
	if lt, ok := t.(types.ListType); ok {
		return types.ListNull(lt.ElemType)
	}
	switch t {
	case types.Int64Type:
		return types.Int64Null()
	case types.BoolType:
		return types.BoolNull()
	default:
		return types.StringNull()
	}
}

func localUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

func stringSet(ctx context.Context, s types.Set, diags *diag.Diagnostics) []string {
	if s.IsNull() || s.IsUnknown() {
		return nil
	}
	var out []string
	diags.Append(s.ElementsAs(ctx, &out, false)...)
	sort.Strings(out)
	return out
}

func stringList(ctx context.Context, l types.List, diags *diag.Diagnostics) []string {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	var out []string
	diags.Append(l.ElementsAs(ctx, &out, false)...)
	return out
}

// setFacts records the host's identity and platform, and the verified host key.
func setFacts(m *hostResourceModel, f client.Facts, hostKey string) {
	m.ID = types.StringValue(f.HostID)
	m.HostID = types.StringValue(f.HostID)
	m.Hostname = types.StringValue(f.Hostname)
	m.OSID = types.StringValue(f.OSID)
	m.OSVersion = types.StringValue(f.OSVersion)
	m.Architecture = types.StringValue(f.Architecture)
	m.HostKey = types.StringValue(hostKey)
}

// applyLiveState copies what the host really runs into the model.
func applyLiveState(ctx context.Context, m *hostResourceModel, live hostState) diag.Diagnostics {
	var diags diag.Diagnostics
	m.AgentSHA256 = types.StringValue(live.AgentSHA256)
	switch {
	case live.Health != nil:
		m.AgentVersion = types.StringValue(live.Health.AgentVersion)
	default:
		m.AgentVersion = types.StringValue("")
	}
	m.ConfigSHA256 = types.StringValue(live.ConfigSHA256)
	if live.Config != nil {
		m.ListenAddress = types.StringValue(live.Config.ListenAddress)
		m.HeartbeatInterval = types.StringValue(live.Config.HeartbeatInterval)
		m.Monitoring = monitoringToModel(ctx, live.Config.Monitoring, &diags)
	} else if m.ListenAddress.IsNull() {
		m.ListenAddress = types.StringValue(defaultListenAddress)
		m.HeartbeatInterval = types.StringValue(defaultHeartbeatInterval)
	}
	m.ServiceActive = types.BoolValue(live.ServiceActive)
	m.ServiceEnabled = types.BoolValue(live.ServiceEnabled)
	pv, d := types.MapValueFrom(ctx, types.StringType, live.Packages)
	diags.Append(d...)
	m.PackageVersions = pv
	diags.Append(live.setIn(ctx, m)...)
	return diags
}

// setConnection exports the connection with the verified host key pinned and
// the host id set, for dependent resources.
func setConnection(m *hostResourceModel) diag.Diagnostics {
	attrTypes := connectionAttrTypes()
	attrs := m.Host.Attributes()
	fields := map[string]attr.Value{}
	for name, t := range attrTypes {
		if v, ok := attrs[name]; ok {
			fields[name] = v
		} else {
			fields[name] = nullOf(t)
		}
	}
	// Keep the operator's own trust choice when it pins or lists keys; replace
	// trust-on-first-use (or nothing) with the key seen at creation.
	hk, _ := fields["host_key"].(types.String)
	kh, _ := fields["known_hosts_file"].(types.String)
	if hk.IsNull() && kh.IsNull() && m.HostKey.ValueString() != "" {
		fields["host_key"] = m.HostKey
		fields["trust_on_first_use"] = types.BoolNull()
	}
	fields["host_id"] = m.HostID
	obj, diags := types.ObjectValue(attrTypes, fields)
	m.Connection = obj
	return diags
}
