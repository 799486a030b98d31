package provider

import (
	"context"
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
	Status         types.Map    `tfsdk:"status"`
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
				"value":   schema.StringAttribute{Optional: true, MarkdownDescription: "The value the control expects instead of its default."},
				"reason":  schema.StringAttribute{Required: true, MarkdownDescription: "Why: recorded in the compliance report."},
			}}},
		"confirm_timeout": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("60s"),
			MarkdownDescription: "How long the host waits for the fresh login that confirms a change to sshd: `10s` to `120s`, default `60s`.",
			Validators: []validator.String{stringCheck{desc: "a duration from 10s to 120s", check: func(s string) error {
				_, err := api.ParseConfirmTimeout(s)
				return err
			}}}},
		"status": schema.MapAttribute{Computed: true, ElementType: types.StringType,
			MarkdownDescription: "Each control's status by id: `pass`; `fail: <value read> (<where from>)`; " +
				"`not_applicable: <why>`; `off: <reason>`; `error: <why>`. Failures are planned `pass`."},
	}
}

func hardeningKind() objectKind[hardeningModel, api.HardeningProfile, api.HardeningObserved] {
	return objectKind[hardeningModel, api.HardeningProfile, api.HardeningObserved]{
		api:             api.HardeningKind,
		typeName:        "hardening_profile",
		description:     hardeningDescription(),
		nameDescription: "The profile's name.",
		attributes:      hardeningAttributes(),
		known:           func(m *hardeningModel) bool { return allKnown(m.Name, m.Level, m.Controls, m.ConfirmTimeout) },
		toSpec: func(ctx context.Context, m *hardeningModel) (api.HardeningProfile, diag.Diagnostics) {
			return m.toSpec(ctx)
		},
		fromSpec: func(ctx context.Context, m *hardeningModel, s api.HardeningProfile) diag.Diagnostics {
			return m.fromSpec(ctx, s)
		},
		observe:     (*hardeningModel).setStatus,
		plan:        planHardening,
		checkAccess: hardeningAccess,
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
	return s, diags
}

func (m *hardeningModel) fromSpec(ctx context.Context, s api.HardeningProfile) diag.Diagnostics {
	var diags diag.Diagnostics
	m.Name, m.Level, m.ConfirmTimeout = types.StringValue(s.Name), types.StringValue(s.Level), types.StringValue(s.ConfirmTimeout)
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
