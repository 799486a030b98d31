package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	tfpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// NewFirewallResource returns the steward_firewall resource: the
// managed-object resource with the firewall kind.
func NewFirewallResource() resource.Resource {
	return &objectResource[firewallModel, *firewallModel, api.Firewall, api.FirewallObserved]{k: firewallKind()}
}

type firewallModel struct {
	objectState
	InputPolicy    types.String `tfsdk:"input_policy"`
	Established    types.Bool   `tfsdk:"established"`
	Loopback       types.Bool   `tfsdk:"loopback"`
	ICMP           types.Bool   `tfsdk:"icmp"`
	LogDrops       types.Bool   `tfsdk:"log_drops"`
	Rules          types.List   `tfsdk:"rule"`
	ConfirmTimeout types.String `tfsdk:"confirm_timeout"`

	Drift   types.String `tfsdk:"drift"`
	Ruleset types.String `tfsdk:"ruleset"`
}

type firewallRuleModel struct {
	Protocol  types.String `tfsdk:"protocol"`
	Ports     types.List   `tfsdk:"ports"`
	Sources   types.List   `tfsdk:"sources"`
	RateLimit types.String `tfsdk:"rate_limit"`
	Comment   types.String `tfsdk:"comment"`
}

const firewallDescription = "The host's firewall: the input chain of Steward's own nftables table, `inet steward`. " +
	"No other table is read or written (Docker's, the distribution's `inet filter`), and a host has at most one " +
	"`steward_firewall`. The ruleset is checked with `nft -c` before anything changes and loaded in one `nft -f` " +
	"transaction; `steward-firewall.service` loads it again at boot.\n\n" +
	"A change can cut access, so it is confirmed or reverted: before it loads the ruleset the agent saves the table as " +
	"it is and arms a systemd timer on the host that puts it back; the provider then opens a **fresh** SSH connection " +
	"with the same credentials and confirms the change through it. If that login fails within `confirm_timeout`, the " +
	"host reverts by itself (even if the SSH session and the agent died meanwhile) and the apply fails saying what " +
	"would have locked you out. A rule added by hand to the table, or the table deleted, shows in `terraform plan` as " +
	"`drift`, and one apply loads Steward's ruleset again."

func firewallAttributes() map[string]schema.Attribute {
	strList := func(desc string, required bool, v validator.List) schema.ListAttribute {
		return schema.ListAttribute{ElementType: types.StringType, Required: required, Optional: !required,
			MarkdownDescription: desc, Validators: []validator.List{v}}
	}
	return map[string]schema.Attribute{
		"input_policy": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("drop"),
			MarkdownDescription: "What happens to input no rule accepts: `drop` (the default) or `accept`.",
			Validators:          []validator.String{stringvalidator.OneOf("drop", "accept")}},
		"established": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
			MarkdownDescription: "Accept established and related traffic (and drop invalid) before any rule. Default `true`."},
		"loopback": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
			MarkdownDescription: "Accept everything on `lo`. Default `true`."},
		"icmp": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
			MarkdownDescription: "Accept ICMP and ICMPv6 (ping, path MTU discovery, IPv6 neighbour discovery). Default `true`."},
		"log_drops": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
			MarkdownDescription: "Log what the `drop` policy drops, at most 5 a second, prefixed `steward-drop: ` (kernel log). Default `false`."},
		"rule": schema.ListNestedAttribute{Optional: true,
			MarkdownDescription: "Input to accept, in order, after the built-in accepts above.",
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"protocol": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("tcp"),
					MarkdownDescription: "`tcp` (the default) or `udp`.", Validators: []validator.String{stringvalidator.OneOf("tcp", "udp")}},
				"ports": strList("Ports and ranges, e.g. `[\"22\"]` or `[\"80\", \"8000-8080\"]`.", true,
					listvalidator.ValueStringsAre(stringCheck{desc: "a port (1-65535) or a range \"LOW-HIGH\"", check: func(s string) error { _, _, err := api.ParsePortRange(s); return err }})),
				"sources": strList("Source CIDRs, IPv4 or IPv6 (`[\"192.0.2.0/24\"]`); unset accepts from anywhere.", false,
					listvalidator.ValueStringsAre(stringCheck{desc: "a CIDR such as \"192.0.2.0/24\"", check: api.CheckCIDR})),
				"rate_limit": schema.StringAttribute{Optional: true,
					MarkdownDescription: "Cap on new connections, `N/second` or `N/minute`; above it the policy decides.",
					Validators:          []validator.String{stringCheck{desc: "\"N/second\" or \"N/minute\"", check: api.CheckRateLimit}}},
				"comment": schema.StringAttribute{Optional: true, MarkdownDescription: "Shown in the ruleset (`nft list table inet steward`)."},
			}}},
		"confirm_timeout": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("60s"),
			MarkdownDescription: "How long the host waits for the fresh login that confirms a change before it puts the previous " +
				"table back: `10s` to `120s`, default `60s`.",
			Validators: []validator.String{stringCheck{desc: "a duration from 10s to 120s", check: func(s string) error {
				_, err := api.ParseConfirmTimeout(s)
				return err
			}}}},
		"drift": schema.StringAttribute{Computed: true,
			MarkdownDescription: "How the live table differs from the one Steward loaded: its lines that Steward did not load " +
				"(`+`) and Steward's that are missing (`-`), or that the table is gone; empty when they are the same. " +
				"Always planned empty, so a change by hand shows in `terraform plan`."},
		"ruleset": schema.StringAttribute{Computed: true,
			MarkdownDescription: "The live table as `nft list table inet steward` prints it."},
	}
}

func firewallKind() objectKind[firewallModel, api.Firewall, api.FirewallObserved] {
	return objectKind[firewallModel, api.Firewall, api.FirewallObserved]{
		api:             api.FirewallKind,
		typeName:        "firewall",
		description:     firewallDescription,
		nameDescription: "The firewall's name (a host has one).",
		attributes:      firewallAttributes(),
		known: func(m *firewallModel) bool {
			return allKnown(m.Name, m.InputPolicy, m.Established, m.Loopback, m.ICMP, m.LogDrops, m.Rules, m.ConfirmTimeout)
		},
		toSpec: func(ctx context.Context, m *firewallModel) (api.Firewall, diag.Diagnostics) { return m.toSpec(ctx) },
		fromSpec: func(ctx context.Context, m *firewallModel, s api.Firewall) diag.Diagnostics {
			return m.fromSpec(ctx, s)
		},
		observe:     (*firewallModel).setStatus,
		plan:        planFirewall,
		checkAccess: firewallAccess,
	}
}

func (m *firewallModel) toSpec(ctx context.Context) (api.Firewall, diag.Diagnostics) {
	var diags diag.Diagnostics
	s := api.Firewall{Name: m.Name.ValueString(), InputPolicy: m.InputPolicy.ValueString(), Established: m.Established.ValueBool(),
		Loopback: m.Loopback.ValueBool(), ICMP: m.ICMP.ValueBool(), LogDrops: m.LogDrops.ValueBool(),
		ConfirmTimeout: m.ConfirmTimeout.ValueString()}
	var rules []firewallRuleModel
	if !m.Rules.IsNull() && !m.Rules.IsUnknown() {
		diags.Append(m.Rules.ElementsAs(ctx, &rules, false)...)
	}
	for _, r := range rules {
		s.Rules = append(s.Rules, api.FirewallRule{Protocol: r.Protocol.ValueString(), Ports: stringList(ctx, r.Ports, &diags),
			Sources: stringList(ctx, r.Sources, &diags), RateLimit: r.RateLimit.ValueString(), Comment: r.Comment.ValueString()})
	}
	return s, diags
}

func (m *firewallModel) fromSpec(ctx context.Context, s api.Firewall) diag.Diagnostics {
	var diags diag.Diagnostics
	var cur []firewallRuleModel
	if !m.Rules.IsNull() && !m.Rules.IsUnknown() {
		diags.Append(m.Rules.ElementsAs(ctx, &cur, false)...)
	}
	m.Name, m.InputPolicy = types.StringValue(s.Name), types.StringValue(s.InputPolicy)
	m.Established, m.Loopback, m.ICMP, m.LogDrops = types.BoolValue(s.Established), types.BoolValue(s.Loopback), types.BoolValue(s.ICMP), types.BoolValue(s.LogDrops)
	m.ConfirmTimeout = types.StringValue(s.ConfirmTimeout)
	if len(s.Rules) == 0 && m.Rules.IsNull() {
		return diags
	}
	rules := make([]firewallRuleModel, len(s.Rules))
	for i, r := range s.Rules {
		var c firewallRuleModel
		if i < len(cur) {
			c = cur[i]
		}
		rules[i] = firewallRuleModel{Protocol: types.StringValue(r.Protocol),
			Ports:     specStringList(ctx, c.Ports, r.Ports, &diags),
			Sources:   specStringList(ctx, c.Sources, r.Sources, &diags),
			RateLimit: specString(c.RateLimit, r.RateLimit), Comment: specString(c.Comment, r.Comment)}
	}
	l, d := types.ListValueFrom(ctx, firewallRuleType(), rules)
	diags.Append(d...)
	m.Rules = l
	return diags
}

func firewallRuleType() attr.Type {
	return types.ObjectType{AttrTypes: objectTypeOf(firewallAttributes()["rule"])}
}

func (m *firewallModel) setStatus(st api.ObjectStatus[api.Firewall, api.FirewallObserved], _ time.Time) {
	m.Ruleset = types.StringValue(st.Observed.Ruleset)
	m.Drift = types.StringValue(rulesetDrift(st.Observed))
}

// rulesetDrift says how the live table differs from what Steward loaded.
func rulesetDrift(o api.FirewallObserved) string {
	switch {
	case o.InSync:
		return ""
	case !o.Present:
		return "table inet steward is missing"
	case o.Expected == "":
		return "Steward has not loaded this table (no record of it on the host)"
	}
	count := func(s string) map[string]int {
		n := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				n[l]++
			}
		}
		return n
	}
	live, want := count(o.Ruleset), count(o.Expected)
	var out []string
	for _, l := range strings.Split(o.Ruleset, "\n") {
		if l = strings.TrimSpace(l); l != "" && live[l] > want[l] {
			out = append(out, "+ "+l)
			live[l]--
		}
	}
	live = count(o.Ruleset)
	for _, l := range strings.Split(o.Expected, "\n") {
		if l = strings.TrimSpace(l); l != "" && want[l] > live[l] {
			out = append(out, "- "+l)
			want[l]--
		}
	}
	if len(out) == 0 {
		return "the rules are in another order than Steward loaded them"
	}
	return strings.Join(out, "\n")
}

// planFirewall plans the live table to be Steward's again.
func planFirewall(_ context.Context, plan, state *firewallModel, specChanged bool, _ *diag.Diagnostics) {
	plan.Drift = types.StringValue("")
	if specChanged || state == nil || state.Drift.ValueString() != "" {
		plan.Ruleset = types.StringUnknown()
	}
}

// firewallAccess refuses a firewall that would obviously cut off the
// login that applies it: a drop policy with no rule for its SSH port.
func firewallAccess(ctx context.Context, m *firewallModel, login client.Hop, diags *diag.Diagnostics) {
	spec, d := m.toSpec(ctx)
	if d.HasError() || spec.AdmitsPort(login.Port) {
		return
	}
	diags.AddAttributeError(tfpath.Root("rule"), "Firewall Would Lock Out Steward",
		fmt.Sprintf("input_policy = %q and no rule admits TCP port %d, the SSH port of the host attribute's connection: "+
			"the apply would cut off the connection that makes it (the host would revert it after confirm_timeout). "+
			"Add a rule such as { ports = [\"%d\"], sources = [\"<your network>\"] }.", spec.InputPolicy, login.Port, login.Port))
}
