package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	tfpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// Every managed object (DESIGN.md §3) is one Terraform resource shape,
// written once here: objectResource implements Metadata, Schema, ModifyPlan,
// Create, Read, Update, Delete and ImportState, checks the host's identity in
// one place and maps agent errors by their code. A kind brings an
// objectKind: its attributes and the mapping between its model and its
// api.Spec. See doc.go for the recipe.

// objectState is the part of every managed object's model that
// objectResource owns; a kind's model embeds it.
type objectState struct {
	Host         types.Object `tfsdk:"host"`
	Name         types.String `tfsdk:"name"`
	ID           types.String `tfsdk:"id"`
	HostID       types.String `tfsdk:"host_id"`
	ConfigSHA256 types.String `tfsdk:"config_sha256"`
}

func (s *objectState) object() *objectState { return s }

// objectModel is a kind's model: a struct embedding objectState.
type objectModel[M any] interface {
	*M
	object() *objectState
}

// objectKind is what one kind of managed object brings.
type objectKind[M any, S api.Spec, O any] struct {
	api api.Kind[S, O]
	// typeName follows the provider's type name: "backup_schedule".
	typeName string
	// description and nameDescription document the resource and its name.
	description, nameDescription string
	// attributes are the kind's own; objectResource adds host, name, id,
	// host_id and config_sha256.
	attributes map[string]schema.Attribute
	validators []resource.ConfigValidator

	// known says whether every input of the spec is known (at plan time).
	known func(m *M) bool
	// toSpec renders the model as the spec the agent stores.
	toSpec func(ctx context.Context, m *M) (S, diag.Diagnostics)
	// fromSpec copies the spec the host has into the model (drift).
	fromSpec func(ctx context.Context, m *M, s S) diag.Diagnostics
	// observe sets the kind's computed values from a status with a spec
	// (objectResource sets config_sha256).
	observe func(m *M, st api.ObjectStatus[S, O], now time.Time)

	// plan, when set, adjusts a planned create (state nil) or update after
	// the digest is planned; specChanged says whether the spec file changes.
	plan func(ctx context.Context, plan, state *M, specChanged bool, diags *diag.Diagnostics)
	// afterConfigure, when set, runs after the spec is configured (a
	// backup run, say) and may read the status again into st.
	afterConfigure func(ctx context.Context, conn hostConn, plan, state *M, st *api.ObjectStatus[S, O]) diag.Diagnostics
	// configureError, when set, turns a kind's own api.Error codes into
	// diagnostics blamed on its attributes; ok false leaves the default.
	configureError func(ae *api.Error, address string) (d diag.Diagnostic, ok bool)
	// checkAccess, when set, refuses at plan time a spec that would
	// obviously lock out the login the host attribute makes (a firewall
	// without its SSH port, root login off while logging in as root).
	checkAccess func(ctx context.Context, m *M, login client.Hop, diags *diag.Diagnostics)
	// planned, when set, checks the planned spec against the other objects
	// this configuration of the provider planned for the same host (two
	// hardening profiles that disagree); host names the machine by its
	// address behind its bastions.
	planned func(ctx context.Context, data *providerData, host string, spec S, diags *diag.Diagnostics)
	// importState, when set, sets attributes an import cannot read from
	// the host (flags that act only on apply).
	importState func(ctx context.Context, resp *resource.ImportStateResponse)
}

// login is the login the host attribute makes (merged with the provider's
// default_connection), when the attribute is known at plan time.
func (r *objectResource[M, PM, S, O]) login(ctx context.Context, o *objectState) (client.Hop, bool) {
	if o.Host.IsNull() || !allKnown(o.Host) || r.data == nil {
		return client.Hop{}, false
	}
	c, d := connectionFromObject(ctx, o.Host)
	if d.HasError() {
		return client.Hop{}, false
	}
	h := mergeHop(c.hopModel, r.data.defaults.hopModel, true, r.data.getenv)
	if h.Port == 0 {
		h.Port = 22
	}
	return h, true
}

// route names the machine the host attribute reaches, when it is known at
// plan time: "bastion:22 > 10.0.0.5:22".
func (r *objectResource[M, PM, S, O]) route(ctx context.Context, o *objectState) (string, bool) {
	if o.Host.IsNull() || !allKnown(o.Host) || r.data == nil {
		return "", false
	}
	c, d := connectionFromObject(ctx, o.Host)
	if d.HasError() {
		return "", false
	}
	// Only the addresses count: what else is wrong with the connection,
	// the apply reports.
	cfg, _ := resolveConnection(ctx, tfpath.Root("host"), c, r.data.defaults, r.data.getenv)
	if cfg.Host == "" {
		return "", false
	}
	hops := make([]string, 0, len(cfg.Bastions)+1)
	for _, b := range cfg.Bastions {
		hops = append(hops, b.Address())
	}
	return strings.Join(append(hops, cfg.Address()), " > "), true
}

// objectResource is the Terraform resource of one kind of managed object.
type objectResource[M any, PM objectModel[M], S api.Spec, O any] struct {
	data *providerData
	k    objectKind[M, S, O]
}

var (
	_ resource.ResourceWithConfigure        = (*objectResource[backupScheduleModel, *backupScheduleModel, api.BackupSchedule, api.BackupObserved])(nil)
	_ resource.ResourceWithImportState      = (*objectResource[backupScheduleModel, *backupScheduleModel, api.BackupSchedule, api.BackupObserved])(nil)
	_ resource.ResourceWithModifyPlan       = (*objectResource[backupScheduleModel, *backupScheduleModel, api.BackupSchedule, api.BackupObserved])(nil)
	_ resource.ResourceWithConfigValidators = (*objectResource[backupScheduleModel, *backupScheduleModel, api.BackupSchedule, api.BackupObserved])(nil)
)

func (r *objectResource[M, PM, S, O]) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + r.k.typeName
}

func (r *objectResource[M, PM, S, O]) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = objectSchema(r.k.description, r.k.nameDescription, r.k.api.Dir, r.k.attributes)
}

// objectSchema is a kind's schema: its attributes and the common ones.
func objectSchema(description, nameDescription, dir string, kindAttrs map[string]schema.Attribute) schema.Schema {
	attrs := maps.Clone(kindAttrs)
	attrs["host"] = schema.SingleNestedAttribute{Required: true, Attributes: resourceConnectionAttributes(false),
		MarkdownDescription: "The host, usually `steward_host.<name>.host_connection`. The agent must be deployed there."}
	attrs["name"] = schema.StringAttribute{Required: true, MarkdownDescription: nameDescription,
		PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
		Validators: []validator.String{stringvalidator.RegexMatches(api.ObjectNamePattern,
			"must be 1-63 lower-case letters, digits, '_' or '-', starting with a letter or digit")}}
	attrs["id"] = schema.StringAttribute{Computed: true, MarkdownDescription: "`<host_id>/<name>`.",
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
	attrs["host_id"] = schema.StringAttribute{Computed: true, MarkdownDescription: "The host's `/etc/machine-id`.",
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
	attrs["config_sha256"] = schema.StringAttribute{Computed: true,
		MarkdownDescription: "SHA-256 of `" + api.ConfigDir + "/" + dir + "/<name>.json` on the host; an edit by hand shows as drift."}
	return schema.Schema{MarkdownDescription: description, Attributes: attrs}
}

func (r *objectResource[M, PM, S, O]) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *objectResource[M, PM, S, O]) ConfigValidators(context.Context) []resource.ConfigValidator {
	return r.k.validators
}

// ModifyPlan plans config_sha256 at the digest of the spec the apply will
// write, so an edited file on the host shows in `terraform plan`; the kind
// plans the rest.
func (r *objectResource[M, PM, S, O]) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	plan := new(M)
	resp.Diagnostics.Append(req.Plan.Get(ctx, plan)...)
	if resp.Diagnostics.HasError() || !r.k.known(plan) {
		return // unknown values: the digest is computed at apply
	}
	spec, diags := r.k.toSpec(ctx, plan)
	if diags.HasError() {
		return // reported by the apply, with the attribute to blame
	}
	var state *M
	if !req.State.Raw.IsNull() {
		state = new(M)
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
		if resp.Diagnostics.HasError() {
			return
		}
		sum := sha256.Sum256(api.RenderSpec(spec))
		PM(plan).object().ConfigSHA256 = types.StringValue(hex.EncodeToString(sum[:]))
	}
	if r.k.plan != nil {
		changed := state == nil || !PM(plan).object().ConfigSHA256.Equal(PM(state).object().ConfigSHA256)
		r.k.plan(ctx, plan, state, changed, &resp.Diagnostics)
	}
	if login, ok := r.login(ctx, PM(plan).object()); ok && r.k.checkAccess != nil {
		r.k.checkAccess(ctx, plan, login, &resp.Diagnostics)
	}
	if r.k.planned != nil {
		if host, ok := r.route(ctx, PM(plan).object()); ok {
			r.k.planned(ctx, r.data, host, spec, &resp.Diagnostics)
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, plan)...)
}

func (r *objectResource[M, PM, S, O]) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	plan := new(M)
	resp.Diagnostics.Append(req.Plan.Get(ctx, plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if resp.Diagnostics.Append(r.apply(ctx, plan, nil)...); resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
}

func (r *objectResource[M, PM, S, O]) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	plan, state := new(M), new(M)
	resp.Diagnostics.Append(req.Plan.Get(ctx, plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if resp.Diagnostics.Append(r.apply(ctx, plan, state)...); resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
}

// apply configures the object on the host and reads its status into plan.
func (r *objectResource[M, PM, S, O]) apply(ctx context.Context, plan, state *M) diag.Diagnostics {
	spec, diags := r.k.toSpec(ctx, plan)
	if diags.HasError() {
		return diags
	}
	conn, hostID, d := r.connect(ctx, PM(plan).object(), state)
	if diags.Append(d...); diags.HasError() {
		return diags
	}
	st, err := client.Call(ctx, conn, r.k.api.Configure(), conn.Operator(localUser()), spec)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && r.k.configureError != nil {
			if d, ok := r.k.configureError(ae, conn.Address()); ok {
				diags.Append(d)
				return diags
			}
		}
		diags.Append(agentDiagnostic("Unable to Configure "+r.noun(), conn.Address(), err))
		return diags
	}
	if st.Pending != nil {
		if diags.Append(confirmChange(ctx, conn, hostID, st.Pending)...); diags.HasError() {
			return diags
		}
	}
	if r.k.afterConfigure != nil {
		if diags.Append(r.k.afterConfigure(ctx, conn, plan, state, &st)...); diags.HasError() {
			return diags
		}
	}
	o := PM(plan).object()
	o.ID = types.StringValue(hostID + "/" + spec.ObjectName())
	o.HostID = types.StringValue(hostID)
	o.ConfigSHA256 = types.StringValue(st.SpecSHA256)
	r.k.observe(plan, st, time.Now())
	return diags
}

func (r *objectResource[M, PM, S, O]) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	state := new(M)
	resp.Diagnostics.Append(req.State.Get(ctx, state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	o := PM(state).object()
	// One round trip: the status carries the host's identity too.
	conn, expectedID, diags := r.data.connectHost(ctx, tfpath.Root("host"), o.Host)
	if resp.Diagnostics.Append(diags...); resp.Diagnostics.HasError() {
		return
	}
	st, err := client.Call(ctx, conn, r.k.api.Status(), conn.Operator(localUser()), api.ObjectName{Name: o.Name.ValueString()})
	if why := agentUnusable(err); why != "" {
		// steward_host redeploys the agent in the same apply, and this
		// object is written again after it.
		resp.Diagnostics.AddWarning(r.noun()+" Will Be Written Again",
			fmt.Sprintf("The Steward agent on %s %s, so %s %q cannot be read; the plan writes it again. "+
				"Apply its steward_host in the same run (one plain terraform apply does both, the host first).\n\n%v",
				conn.Address(), why, strings.ToLower(r.noun()), o.Name.ValueString(), err))
		o.ConfigSHA256 = types.StringValue("")
		resp.Diagnostics.Append(resp.State.Set(ctx, state)...)
		return
	}
	if err != nil {
		resp.Diagnostics.Append(agentDiagnostic("Unable to Read "+r.noun(), conn.Address(), err))
		return
	}
	if resp.Diagnostics.Append(checkIdentity(conn.Address(), st.HostID, expectedID, o.HostID.ValueString())...); resp.Diagnostics.HasError() {
		return
	}
	o.ID = types.StringValue(st.HostID + "/" + o.Name.ValueString())
	o.HostID = types.StringValue(st.HostID)
	if !st.Present {
		resp.State.RemoveResource(ctx) // deleted on the host: plan to create it again
		return
	}
	o.ConfigSHA256 = types.StringValue(st.SpecSHA256)
	if st.Spec != nil { // else the file does not parse: its digest differs, and the plan writes it again
		resp.Diagnostics.Append(r.k.fromSpec(ctx, state, *st.Spec)...)
		r.k.observe(state, st, time.Now())
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, state)...)
}

func (r *objectResource[M, PM, S, O]) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	state := new(M)
	resp.Diagnostics.Append(req.State.Get(ctx, state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	o := PM(state).object()
	conn, _, diags := r.connect(ctx, o, state)
	if resp.Diagnostics.Append(diags...); resp.Diagnostics.HasError() {
		return
	}
	if _, err := client.Call(ctx, conn, r.k.api.Remove(), conn.Operator(localUser()), api.ObjectName{Name: o.Name.ValueString()}); err != nil {
		resp.Diagnostics.Append(agentDiagnostic("Unable to Remove "+r.noun(), conn.Address(), err))
	}
}

// ImportState takes "[user@]host[:port]/<name>": the host attribute is not
// known at import, so the ID names it too.
func (r *objectResource[M, PM, S, O]) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	target, name, ok := strings.Cut(req.ID, "/")
	if !ok || !api.ObjectNamePattern.MatchString(name) {
		resp.Diagnostics.AddError("Invalid Import ID", fmt.Sprintf("Expected \"[user@]host[:port]/<name>\", e.g. \"deploy@10.0.0.5/etc\", got %q.", req.ID))
		return
	}
	hostObj, diags := importHostObject(target)
	if resp.Diagnostics.Append(diags...); resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, tfpath.Root("host"), hostObj)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, tfpath.Root("name"), name)...)
	if r.k.importState != nil {
		r.k.importState(ctx, resp)
	}
}

// connect reaches the host and proves its identity before a change: the
// host must be the machine the connection and the state name.
func (r *objectResource[M, PM, S, O]) connect(ctx context.Context, o *objectState, state *M) (hostConn, string, diag.Diagnostics) {
	conn, expectedID, diags := r.data.connectHost(ctx, tfpath.Root("host"), o.Host)
	if diags.HasError() {
		return nil, "", diags
	}
	facts, err := conn.Facts(ctx)
	if err != nil {
		diags.Append(connectionDiagnostic(tfpath.Root("host"), err))
		return nil, "", diags
	}
	inState := ""
	if state != nil {
		inState = PM(state).object().HostID.ValueString()
	}
	diags.Append(checkIdentity(conn.Address(), facts.HostID, expectedID, inState)...)
	return conn, facts.HostID, diags
}

// noun names the kind in diagnostics: "Backup Schedule".
func (r *objectResource[M, PM, S, O]) noun() string {
	words := strings.Split(r.k.typeName, "_")
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// checkIdentity fails when the host at address answered as got, another
// machine than the one the connection's host_id or the state names; it
// always blames the host attribute.
func checkIdentity(address, got string, want ...string) diag.Diagnostics {
	var diags diag.Diagnostics
	for _, w := range want {
		if w != "" && w != got {
			diags.Append(hostIDMismatch(tfpath.Root("host"), address, w, got))
			return diags
		}
	}
	return diags
}
