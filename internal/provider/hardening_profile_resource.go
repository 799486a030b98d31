package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	tfpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// NewHardeningProfileResource returns the steward_hardening_profile
// resource: the managed-object resource with the hardening kind.
func NewHardeningProfileResource() resource.Resource {
	return &objectResource[hardeningModel, *hardeningModel, api.HardeningProfile, api.HardeningObserved]{k: hardeningKind()}
}

type hardeningModel struct {
	objectState
	Level          types.String `tfsdk:"level"`
	Controls       types.Map    `tfsdk:"controls"`
	ConfirmTimeout types.String `tfsdk:"confirm_timeout"`
	CustomControls types.List   `tfsdk:"custom_control"`
	Status         types.Map    `tfsdk:"status"`
}

type customControlModel struct {
	ID       types.String `tfsdk:"id"`
	Title    types.String `tfsdk:"title"`
	Check    types.String `tfsdk:"check"`
	Expected types.String `tfsdk:"expected"`
	Apply    types.String `tfsdk:"apply"`
	Refs     types.List   `tfsdk:"refs"`
}

type controlSettingModel struct {
	Enabled types.Bool   `tfsdk:"enabled"`
	Value   types.String `tfsdk:"value"`
	Reason  types.String `tfsdk:"reason"`
}

func hardeningDescription() string {
	var b strings.Builder
	b.WriteString("A hardening profile: a level of the agent's control catalogue, checked against the **effective** values " +
		"on the host (`sshd -T`, `/proc/sys` and `/etc/sysctl.d`, file modes and owners as they are) and applied. sshd settings go into one drop-in, " +
		"`/etc/ssh/sshd_config.d/00-steward-hardening.conf`, which sshd reads before any other (and `MaxStartups`, for which " +
		"sshd keeps the last value it reads, into `zz-steward-hardening.conf`); they are validated with " +
		"`sshd -t` and applied under confirm-or-revert (a fresh SSH login must confirm them, or the host puts the previous " +
		"drop-ins back; see the hardening guide). A value that wins over Steward's anyway (a drop-in " +
		"that sorts earlier, a line above the `Include`) is drift that names the file and line. Every control's status is " +
		"in `status`, planned `pass`, so a change by hand shows in `terraform plan`.\n\n" +
		"| id | level | what | references | default |\n|---|---|---|---|---|\n")
	for _, c := range api.Catalogue {
		def := c.Default
		if c.Family == "files" {
			def = fmt.Sprintf("%04o %s:%s", c.Mode, c.Owner, c.Group)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | `%s` |\n", c.ID, c.Level, c.Title, strings.Join(c.Refs, ", "), def)
	}
	return b.String()
}

func hardeningAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"level": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("baseline"),
			MarkdownDescription: "`baseline` (the default: the catalogue's CIS Debian 12 Level 1 Server controls) or `strict` (and the rest).",
			Validators:          []validator.String{stringvalidator.OneOf("baseline", "strict")}},
		"controls": schema.MapNestedAttribute{Optional: true,
			MarkdownDescription: "Overrides by control id: switch a control off (`enabled = false`) or give it another value, " +
				"always with a `reason`, which the compliance report shows.",
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"enabled": schema.BoolAttribute{Optional: true, MarkdownDescription: "`false` switches the control off."},
				"value":   schema.StringAttribute{Optional: true, MarkdownDescription: "The value the control expects instead of its default; a value switches a `strict` control on in a `baseline` profile."},
				"reason":  schema.StringAttribute{Required: true, MarkdownDescription: "Why: recorded in the compliance report."},
			}}},
		"confirm_timeout": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("60s"),
			MarkdownDescription: "How long the host waits for the fresh login that confirms a change to sshd: `10s` to `120s`, default `60s`.",
			Validators: []validator.String{stringCheck{desc: "a duration from 10s to 120s", check: func(s string) error {
				_, err := api.ParseConfirmTimeout(s)
				return err
			}}}},
		"custom_control": schema.ListNestedAttribute{Optional: true,
			MarkdownDescription: "The profile's own controls, checked and applied like the catalogue's, after them: in `status` " +
				"(drift), in `steward_compliance` and `steward-agent compliance` (family `custom`) and in the audit log. The agent " +
				"runs each command as root with `/bin/sh -c`, the command passed as it is (Steward quotes or expands nothing), in `/`, " +
				"with stdin from `/dev/null`, only `PATH` and `LANG=C` in its environment, and a 30 s timeout.",
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"id": schema.StringAttribute{Required: true,
					MarkdownDescription: "`custom.` and a lower_snake_case name, e.g. `custom.issue_net_mode`; unique in the profile. Its key in `status`.",
					Validators: []validator.String{stringvalidator.RegexMatches(api.CustomControlIDPattern,
						"must be \"custom.\" and a lower_snake_case name, e.g. \"custom.issue_net_mode\"")}},
				"title": schema.StringAttribute{Required: true, MarkdownDescription: "What it ensures, one line."},
				"check": schema.StringAttribute{Required: true,
					MarkdownDescription: "A command that reads the host and changes nothing (it runs on every plan). The control passes " +
						"when it exits 0 and prints `expected`; otherwise it fails with what it printed and how it exited."},
				"expected": schema.StringAttribute{Required: true,
					MarkdownDescription: "What `check` prints on a host that complies, compared with leading and trailing white space trimmed; at most 4 KiB."},
				"apply": schema.StringAttribute{Required: true,
					MarkdownDescription: "A command that makes the check pass; run only when it fails, and the check runs again " +
						"after it: if it still fails, the apply fails naming the control and what the check printed."},
				"refs": schema.ListAttribute{Optional: true, ElementType: types.StringType,
					MarkdownDescription: "Benchmark references it covers, e.g. `[\"CIS 1.7.6\"]`, shown in the compliance report."},
			}}},
		"status": schema.MapAttribute{Computed: true, ElementType: types.StringType,
			MarkdownDescription: "Each control's status by id (custom controls by theirs): `pass`; `fail: <value read> (<where from>)`; " +
				"`not_applicable: <why>`; `off: <reason>`; `error: <why>`. Failures are planned `pass`."},
	}
}

func hardeningKind() objectKind[hardeningModel, api.HardeningProfile, api.HardeningObserved] {
	attrs := hardeningAttributes()
	known := func(m *hardeningModel) bool {
		return allKnown(m.Name, m.Level, m.Controls, m.ConfirmTimeout, m.CustomControls)
	}
	toSpec := func(ctx context.Context, m *hardeningModel) (api.HardeningProfile, diag.Diagnostics) {
		return m.toSpec(ctx)
	}
	return objectKind[hardeningModel, api.HardeningProfile, api.HardeningObserved]{
		api:             api.HardeningKind,
		typeName:        "hardening_profile",
		description:     hardeningDescription(),
		nameDescription: "The profile's name.",
		attributes:      attrs,
		validators: []resource.ConfigValidator{specValidator[hardeningModel, api.HardeningProfile]{
			noun: "Hardening Profile", attrs: attrs, known: known, toSpec: toSpec, check: checkHardening,
		}},
		known:  known,
		toSpec: toSpec,
		fromSpec: func(ctx context.Context, m *hardeningModel, s api.HardeningProfile) diag.Diagnostics {
			return m.fromSpec(ctx, s)
		},
		observe:     (*hardeningModel).setStatus,
		plan:        planHardening,
		checkAccess: hardeningAccess,
		planned:     hardeningPlanned,
	}
}

func (m *hardeningModel) toSpec(ctx context.Context) (api.HardeningProfile, diag.Diagnostics) {
	var diags diag.Diagnostics
	s := api.HardeningProfile{Name: m.Name.ValueString(), Level: m.Level.ValueString(), ConfirmTimeout: m.ConfirmTimeout.ValueString()}
	if !m.Controls.IsNull() && !m.Controls.IsUnknown() {
		var cs map[string]controlSettingModel
		diags.Append(m.Controls.ElementsAs(ctx, &cs, false)...)
		s.Controls = map[string]api.ControlSetting{}
		for id, c := range cs {
			var set api.ControlSetting
			if !c.Enabled.IsNull() {
				v := c.Enabled.ValueBool()
				set.Enabled = &v
			}
			set.Value, set.Reason = c.Value.ValueString(), c.Reason.ValueString()
			s.Controls[id] = set
		}
	}
	var custom []customControlModel
	if !m.CustomControls.IsNull() && !m.CustomControls.IsUnknown() {
		diags.Append(m.CustomControls.ElementsAs(ctx, &custom, false)...)
	}
	for _, c := range custom {
		s.CustomControls = append(s.CustomControls, api.CustomControl{ID: c.ID.ValueString(), Title: c.Title.ValueString(),
			Check: c.Check.ValueString(), Expected: c.Expected.ValueString(), Apply: c.Apply.ValueString(), Refs: stringList(ctx, c.Refs, &diags)})
	}
	return s, diags
}

// checkHardening is the plan-time check of a profile: the agent's Validate,
// catalogue ids included. It sees the configuration, before level's
// default is applied.
func checkHardening(p api.HardeningProfile) (errs, warnings error) {
	if p.Level == "" {
		p.Level = "baseline"
	}
	err := p.Validate()
	var ae *api.Error
	if errors.As(err, &ae) {
		err = errors.New(ae.Message) // the message names the attribute; the code is for the provider
	}
	return err, nil
}

func (m *hardeningModel) fromSpec(ctx context.Context, s api.HardeningProfile) diag.Diagnostics {
	var diags diag.Diagnostics
	m.Name, m.Level, m.ConfirmTimeout = types.StringValue(s.Name), types.StringValue(s.Level), types.StringValue(s.ConfirmTimeout)
	m.customFromSpec(ctx, s.CustomControls, &diags)
	if len(s.Controls) == 0 && m.Controls.IsNull() {
		return diags
	}
	cs := map[string]controlSettingModel{}
	for id, c := range s.Controls {
		cm := controlSettingModel{Reason: types.StringValue(c.Reason), Value: types.StringNull(), Enabled: types.BoolNull()}
		if c.Value != "" {
			cm.Value = types.StringValue(c.Value)
		}
		if c.Enabled != nil {
			cm.Enabled = types.BoolValue(*c.Enabled)
		}
		cs[id] = cm
	}
	v, d := types.MapValueFrom(ctx, types.ObjectType{AttrTypes: objectTypeOf(hardeningAttributes()["controls"])}, cs)
	diags.Append(d...)
	m.Controls = v
	return diags
}

// customFromSpec copies the host's custom controls into the model; refs
// left unset stay null.
func (m *hardeningModel) customFromSpec(ctx context.Context, cs []api.CustomControl, diags *diag.Diagnostics) {
	if len(cs) == 0 && m.CustomControls.IsNull() {
		return
	}
	var cur []customControlModel
	if !m.CustomControls.IsNull() && !m.CustomControls.IsUnknown() {
		diags.Append(m.CustomControls.ElementsAs(ctx, &cur, false)...)
	}
	out := make([]customControlModel, len(cs))
	for i, c := range cs {
		refs := types.ListNull(types.StringType)
		if i < len(cur) {
			refs = cur[i].Refs
		}
		out[i] = customControlModel{ID: types.StringValue(c.ID), Title: types.StringValue(c.Title), Check: types.StringValue(c.Check),
			Expected: types.StringValue(c.Expected), Apply: types.StringValue(c.Apply), Refs: specStringList(ctx, refs, c.Refs, diags)}
	}
	l, d := types.ListValueFrom(ctx, types.ObjectType{AttrTypes: objectTypeOf(hardeningAttributes()["custom_control"])}, out)
	diags.Append(d...)
	m.CustomControls = l
}

// controlStatus is one control's entry in status.
func controlStatus(r api.ControlResult) string {
	switch r.Status {
	case api.ControlPass:
		return api.ControlPass
	case api.ControlFail:
		s := fmt.Sprintf("fail: %s (%s)", r.Actual, r.Source)
		if r.Reason != "" {
			s += "; " + r.Reason
		}
		return s
	default:
		return r.Status + ": " + r.Reason
	}
}

func (m *hardeningModel) setStatus(st api.ObjectStatus[api.HardeningProfile, api.HardeningObserved], _ time.Time) {
	vals := map[string]string{}
	for _, r := range st.Observed.Controls {
		vals[r.ID] = controlStatus(r)
	}
	m.Status, _ = types.MapValueFrom(context.Background(), types.StringType, vals)
}

// planHardening plans every failing control to pass; a changed profile's
// status is known after the apply.
func planHardening(ctx context.Context, plan, state *hardeningModel, specChanged bool, diags *diag.Diagnostics) {
	if specChanged || state == nil || state.Status.IsNull() || state.Status.IsUnknown() {
		plan.Status = types.MapUnknown(types.StringType)
		return
	}
	cur := map[string]string{}
	diags.Append(state.Status.ElementsAs(ctx, &cur, false)...)
	for id, st := range cur {
		if strings.HasPrefix(st, api.ControlFail) {
			cur[id] = api.ControlPass
		}
	}
	v, d := types.MapValueFrom(ctx, types.StringType, cur)
	diags.Append(d...)
	plan.Status = v
}

// hardeningAccess refuses sshd settings that would obviously lock out the
// login that applies them.
func hardeningAccess(ctx context.Context, m *hardeningModel, login client.Hop, diags *diag.Diagnostics) {
	spec, d := m.toSpec(ctx)
	if d.HasError() {
		return
	}
	ctl, _ := api.LookupControl("sshd.permit_root_login")
	on, v := spec.Expected(ctl)
	// Root keeps logging in with "yes", and with prohibit-password unless it logs in with a password.
	keysOnly := v == "prohibit-password" && login.Password == ""
	if on && login.User == "root" && v != "yes" && !keysOnly {
		diags.AddAttributeError(tfpath.Root("controls"), "Hardening Would Lock Out the Operator",
			fmt.Sprintf("The host attribute logs in as root, and control sshd.permit_root_login sets PermitRootLogin %s: the "+
				"next login as root would be refused. Log in as another user with sudo (host.user), or set "+
				"controls = { \"sshd.permit_root_login\" = { value = \"prohibit-password\", reason = \"root logs in with keys\" } }.", v))
	}
	pw, _ := api.LookupControl("sshd.password_authentication")
	if on, v := spec.Expected(pw); on && v == "no" && login.Password != "" {
		diags.AddAttributeError(tfpath.Root("controls"), "Hardening Would Lock Out the Operator",
			"The host attribute logs in with a password (host.password), and control sshd.password_authentication sets "+
				"PasswordAuthentication no: the next login would be refused. Log in with a key (host.private_key or host.private_key_file), or set "+
				"controls = { \"sshd.password_authentication\" = { value = \"yes\", reason = \"the operator logs in with a password\" } }.")
	}
}
