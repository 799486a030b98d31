package provider

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	pschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// hopModel is one SSH endpoint: the target or a bastion.
type hopModel struct {
	Host                 types.String `tfsdk:"host"`
	Port                 types.Int64  `tfsdk:"port"`
	User                 types.String `tfsdk:"user"`
	PrivateKey           types.String `tfsdk:"private_key"`
	PrivateKeyFile       types.String `tfsdk:"private_key_file"`
	PrivateKeyPassphrase types.String `tfsdk:"private_key_passphrase"`
	Certificate          types.String `tfsdk:"certificate"`
	UseAgent             types.Bool   `tfsdk:"use_agent"`
	Password             types.String `tfsdk:"password"`
	HostKey              types.String `tfsdk:"host_key"`
	KnownHostsFile       types.String `tfsdk:"known_hosts_file"`
	TrustOnFirstUse      types.Bool   `tfsdk:"trust_on_first_use"`
}

// connectionModel is the connection object of DESIGN.md §3: a hop plus the
// route to it, sudo, a timeout and the expected host identity.
type connectionModel struct {
	hopModel
	HostID   types.String `tfsdk:"host_id"`
	Bastions types.List   `tfsdk:"bastions"`
	Sudo     types.Bool   `tfsdk:"sudo"`
	Timeout  types.String `tfsdk:"timeout"`
}

type fieldKind int

const (
	kindString fieldKind = iota
	kindInt
	kindBool
)

// connField describes one attribute of the connection object once, for every
// schema package that needs it (provider block, data sources, resources).
type connField struct {
	name      string
	kind      fieldKind
	sensitive bool
	hop       bool // also an attribute of each bastion
	desc      string
	strVal    []validator.String
	intVal    []validator.Int64
}

func sibling(name string) path.Expression { return path.MatchRelative().AtParent().AtName(name) }

func connectionFields() []connField {
	return []connField{
		{name: "host", hop: true, desc: "DNS name or IP address of the host."},
		{name: "port", kind: kindInt, hop: true, desc: "SSH port. Defaults to `22`.",
			intVal: []validator.Int64{int64validator.Between(1, 65535)}},
		{name: "user", hop: true, desc: "Login user."},
		{name: "private_key", sensitive: true, hop: true,
			desc:   "Private key text (OpenSSH or PEM; may be encrypted, see `private_key_passphrase`). It is stored in state: prefer `private_key_file` or `use_agent`.",
			strVal: []validator.String{stringvalidator.ConflictsWith(sibling("private_key_file")), privateKeyValidator}},
		{name: "private_key_file", hop: true, desc: "Path to a private key file on the machine running Terraform (`~/` is expanded). Only the path is stored in state.",
			strVal: []validator.String{stringvalidator.ConflictsWith(sibling("private_key"))}},
		{name: "private_key_passphrase", sensitive: true, hop: true, desc: "Passphrase of an encrypted private key."},
		{name: "certificate", hop: true, desc: "SSH user certificate for the private key, in authorized_keys format (the content of `id_ed25519-cert.pub`).",
			strVal: []validator.String{certificateValidator}},
		{name: "use_agent", kind: kindBool, hop: true, desc: "Authenticate with the keys of the ssh-agent at `SSH_AUTH_SOCK`. Defaults to `true` when no key or password is configured and `SSH_AUTH_SOCK` is set."},
		{name: "password", sensitive: true, hop: true, desc: "Password. Discouraged: it is stored in state and is open to guessing; use keys."},
		{name: "host_key", hop: true, desc: "The host's public key in authorized_keys format (`ssh-ed25519 AAAA...`, the content of `/etc/ssh/ssh_host_ed25519_key.pub`). A different key is a hard error.",
			strVal: []validator.String{hostKeyValidator, stringvalidator.ConflictsWith(sibling("known_hosts_file"))}},
		{name: "known_hosts_file", hop: true, desc: "A known_hosts file to verify the host key with. Hashed entries and `@cert-authority` lines are supported.",
			strVal: []validator.String{stringvalidator.ConflictsWith(sibling("host_key"))}},
		{name: "trust_on_first_use", kind: kindBool, hop: true, desc: "Accept the key the host presents on first contact and report it (see `host_key` in results) so it can be pinned. Use only on networks you trust."},
		{name: "host_id", desc: "Expected `/etc/machine-id` of the host. When set, a host that answers with another id is an error, never a silent apply.",
			strVal: []validator.String{machineIDValidator}},
		{name: "sudo", kind: kindBool, desc: "Run commands as root through `sudo -n` (passwordless sudo). Ignored for `root`."},
		{name: "timeout", desc: "How long to keep trying to connect (host booting, sshd refusing under load), as a duration like `30s` or `2m`. Defaults to `60s`.",
			strVal: []validator.String{durationValidator}},
	}
}

const bastionsDesc = "Bastion hosts to go through, in order: the first is dialled directly, each next one through the previous one, the target through the last. Each hop has its own user, authentication and host-key trust; fields a hop leaves unset, except `host_key`, are taken from the target's connection."

// datasourceConnectionAttributes returns the connection attributes for a data
// source's nested attribute.
func datasourceConnectionAttributes() map[string]dsschema.Attribute {
	attrs := map[string]dsschema.Attribute{}
	hop := map[string]dsschema.Attribute{}
	for _, f := range connectionFields() {
		a := dsAttr(f)
		attrs[f.name] = a
		if f.hop {
			hop[f.name] = dsAttr(f)
		}
	}
	attrs["bastions"] = dsschema.ListNestedAttribute{
		Optional: true, MarkdownDescription: bastionsDesc,
		NestedObject: dsschema.NestedAttributeObject{Attributes: hop},
	}
	return attrs
}

func dsAttr(f connField) dsschema.Attribute {
	switch f.kind {
	case kindInt:
		return dsschema.Int64Attribute{Optional: true, Sensitive: f.sensitive, MarkdownDescription: f.desc, Validators: f.intVal}
	case kindBool:
		return dsschema.BoolAttribute{Optional: true, Sensitive: f.sensitive, MarkdownDescription: f.desc}
	default:
		return dsschema.StringAttribute{Optional: true, Sensitive: f.sensitive, MarkdownDescription: f.desc, Validators: f.strVal}
	}
}

// providerConnectionAttributes returns the attributes of default_connection.
func providerConnectionAttributes() map[string]pschema.Attribute {
	attrs := map[string]pschema.Attribute{}
	hop := map[string]pschema.Attribute{}
	for _, f := range connectionFields() {
		attrs[f.name] = providerAttr(f)
		if f.hop {
			hop[f.name] = providerAttr(f)
		}
	}
	attrs["bastions"] = pschema.ListNestedAttribute{
		Optional: true, MarkdownDescription: bastionsDesc,
		NestedObject: pschema.NestedAttributeObject{Attributes: hop},
	}
	return attrs
}

func providerAttr(f connField) pschema.Attribute {
	switch f.kind {
	case kindInt:
		return pschema.Int64Attribute{Optional: true, Sensitive: f.sensitive, MarkdownDescription: f.desc, Validators: f.intVal}
	case kindBool:
		return pschema.BoolAttribute{Optional: true, Sensitive: f.sensitive, MarkdownDescription: f.desc}
	default:
		return pschema.StringAttribute{Optional: true, Sensitive: f.sensitive, MarkdownDescription: f.desc, Validators: f.strVal}
	}
}

// connectionFromObject decodes a connection object attribute.
func connectionFromObject(ctx context.Context, obj types.Object) (connectionModel, diag.Diagnostics) {
	var m connectionModel
	if obj.IsNull() || obj.IsUnknown() {
		return m, nil
	}
	diags := obj.As(ctx, &m, basetypes.ObjectAsOptions{})
	return m, diags
}

func (m connectionModel) bastions(ctx context.Context) ([]hopModel, diag.Diagnostics) {
	if m.Bastions.IsNull() || m.Bastions.IsUnknown() {
		return nil, nil
	}
	var hops []hopModel
	diags := m.Bastions.ElementsAs(ctx, &hops, false)
	return hops, diags
}

func pickString(v, def types.String) string {
	if !v.IsNull() && !v.IsUnknown() {
		return v.ValueString()
	}
	if !def.IsNull() && !def.IsUnknown() {
		return def.ValueString()
	}
	return ""
}

func pickBool(v, def types.Bool) (value, set bool) {
	if !v.IsNull() && !v.IsUnknown() {
		return v.ValueBool(), true
	}
	if !def.IsNull() && !def.IsUnknown() {
		return def.ValueBool(), true
	}
	return false, false
}

func pickInt(v, def types.Int64) int {
	if !v.IsNull() && !v.IsUnknown() {
		return int(v.ValueInt64())
	}
	if !def.IsNull() && !def.IsUnknown() {
		return int(def.ValueInt64())
	}
	return 0
}

// mergeHop lays v over def. inheritHostKey is false for bastions: a pinned
// key belongs to one host and is never inherited by another.
func mergeHop(v, def hopModel, inheritHostKey bool, getenv func(string) string) client.Hop {
	h := client.Hop{
		Host:                 pickString(v.Host, def.Host),
		Port:                 pickInt(v.Port, def.Port),
		User:                 pickString(v.User, def.User),
		PrivateKey:           pickString(v.PrivateKey, def.PrivateKey),
		PrivateKeyFile:       pickString(v.PrivateKeyFile, def.PrivateKeyFile),
		PrivateKeyPassphrase: pickString(v.PrivateKeyPassphrase, def.PrivateKeyPassphrase),
		Certificate:          pickString(v.Certificate, def.Certificate),
		Password:             pickString(v.Password, def.Password),
		KnownHostsFile:       pickString(v.KnownHostsFile, def.KnownHostsFile),
	}
	// A key set on the resource replaces the default's key and vice versa.
	if !v.PrivateKey.IsNull() {
		h.PrivateKeyFile = ""
	} else if !v.PrivateKeyFile.IsNull() {
		h.PrivateKey = ""
	}
	if inheritHostKey {
		h.HostKey = pickString(v.HostKey, def.HostKey)
	} else {
		h.HostKey = pickString(v.HostKey, types.StringNull())
	}
	h.TrustOnFirstUse, _ = pickBool(v.TrustOnFirstUse, def.TrustOnFirstUse)
	// The hop's own trust choice replaces an inherited one.
	switch {
	case !v.HostKey.IsNull():
		h.KnownHostsFile, h.TrustOnFirstUse = "", false
	case !v.KnownHostsFile.IsNull():
		h.HostKey, h.TrustOnFirstUse = "", false
	case !v.TrustOnFirstUse.IsNull() && v.TrustOnFirstUse.ValueBool():
		h.HostKey, h.KnownHostsFile = "", ""
	}
	useAgent, set := pickBool(v.UseAgent, def.UseAgent)
	if !set && h.PrivateKey == "" && h.PrivateKeyFile == "" && h.Password == "" && getenv("SSH_AUTH_SOCK") != "" {
		useAgent = true
	}
	h.UseAgent = useAgent
	return h
}

// resolveConnection merges a resource's connection over the provider's
// default_connection and validates the result. Problems are blamed on the
// attribute under root that caused them.
func resolveConnection(ctx context.Context, root path.Path, c, def connectionModel, getenv func(string) string) (client.Config, diag.Diagnostics) {
	var diags diag.Diagnostics
	cfg := client.Config{Hop: mergeHop(c.hopModel, def.hopModel, true, getenv)}
	cfg.Sudo, _ = pickBool(c.Sudo, def.Sudo)
	if t := pickString(c.Timeout, def.Timeout); t != "" {
		d, err := client.ParseTimeout(t)
		if err != nil {
			diags.AddAttributeError(root.AtName("timeout"), "Invalid Timeout", err.Error())
		}
		cfg.Timeout = d
	}
	own, d := c.bastions(ctx)
	diags.Append(d...)
	defs, d := def.bastions(ctx)
	diags.Append(d...)
	if own == nil {
		own = defs
	}
	defHop := mergeHop(hopModel{}, def.hopModel, false, getenv)
	for i, b := range own {
		// Auth not set on the bastion or the target falls back to the defaults.
		hop := mergeClientHop(mergeHop(b, c.hopModel, false, getenv), defHop)
		cfg.Bastions = append(cfg.Bastions, hop)
		for _, fe := range hop.Validate() {
			diags.AddAttributeError(root.AtName("bastions").AtListIndex(i).AtName(fe.Field), "Invalid Bastion Connection",
				fmt.Sprintf("Bastion %d: %s %s.", i+1, fe.Field, fe.Message))
		}
	}
	for _, fe := range cfg.Validate() {
		diags.AddAttributeError(root.AtName(fe.Field), "Invalid Connection",
			fmt.Sprintf("%s %s (after merging the provider's default_connection).", fe.Field, fe.Message))
	}
	return cfg, diags
}

// mergeClientHop fills the empty auth fields of h from def.
func mergeClientHop(h, def client.Hop) client.Hop {
	if h.User == "" {
		h.User = def.User
	}
	if h.PrivateKey == "" && h.PrivateKeyFile == "" && !h.UseAgent && h.Password == "" {
		h.PrivateKey, h.PrivateKeyFile, h.PrivateKeyPassphrase = def.PrivateKey, def.PrivateKeyFile, def.PrivateKeyPassphrase
		h.Certificate, h.UseAgent, h.Password = def.Certificate, def.UseAgent, def.Password
	}
	if h.HostKey == "" && h.KnownHostsFile == "" && !h.TrustOnFirstUse {
		h.KnownHostsFile, h.TrustOnFirstUse = def.KnownHostsFile, def.TrustOnFirstUse
	}
	return h
}

// hostIDOf returns the expected host id, or "" when none is configured.
func (m connectionModel) hostIDOf() string {
	if m.HostID.IsNull() || m.HostID.IsUnknown() {
		return ""
	}
	return m.HostID.ValueString()
}

var osGetenv = os.Getenv

// connect resolves a connection attribute against the provider defaults and
// returns the pooled connection and the host id the configuration expects.
func (p *providerData) connect(ctx context.Context, root path.Path, obj types.Object) (*client.Conn, string, diag.Diagnostics) {
	m, diags := connectionFromObject(ctx, obj)
	if diags.HasError() {
		return nil, "", diags
	}
	conn, d := p.connectModel(ctx, root, m)
	diags.Append(d...)
	return conn, m.hostIDOf(), diags
}

// connectModel resolves a decoded connection against the provider defaults
// and returns the pooled connection.
func (p *providerData) connectModel(ctx context.Context, root path.Path, m connectionModel) (*client.Conn, diag.Diagnostics) {
	if p == nil {
		var diags diag.Diagnostics
		diags.AddError("Provider Not Configured", "The provider was not configured; please report this to the provider developers.")
		return nil, diags
	}
	cfg, diags := resolveConnection(ctx, root, m, p.defaults, p.getenv)
	if diags.HasError() {
		return nil, diags
	}
	conn, err := p.pool.Get(ctx, cfg)
	if err != nil {
		diags.Append(connectionDiagnostic(root, err))
		return nil, diags
	}
	return conn, diags
}

// connectionDiagnostic turns a client error into a diagnostic a person can act on.
func connectionDiagnostic(root path.Path, err error) diag.Diagnostic {
	var mm *client.HostKeyMismatchError
	var un *client.UnreachableError
	var ae *client.AuthError
	var se *client.SudoError
	switch {
	case errors.As(err, &mm):
		return diag.NewAttributeErrorDiagnostic(root.AtName("host_key"), "Host Key Mismatch", fmt.Sprintf(
			"The host %s presented a key Steward does not trust: %s.\n\n"+
				"  expected: %s\n  presented: %s\n\n"+
				"If the host was reinstalled or its keys were rotated on purpose, verify the new fingerprint out of band "+
				"(for example on the console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and update the trusted key. "+
				"Otherwise, someone may be intercepting the connection: do not proceed.",
			mm.Address, mm.Reason, mm.Expected, mm.Presented))
	case errors.As(err, &un):
		return diag.NewAttributeErrorDiagnostic(root.AtName("host"), "Unable to Connect to Host", fmt.Sprintf(
			"Steward could not open an SSH connection to %s within the timeout of %s (%d attempts). "+
				"Check that the host is up, that the address and port are right, and that sshd listens there; "+
				"raise timeout if the host is still booting.\n\nLast error: %v", un.Address, un.Timeout, un.Attempts, un.Err))
	case errors.As(err, &ae):
		return diag.NewAttributeErrorDiagnostic(root.AtName("user"), "SSH Authentication Failed", fmt.Sprintf(
			"%s@%s refused every credential offered (%v). Check the user name, that its authorized_keys holds the key "+
				"(or that the host trusts the certificate's CA), and the key passphrase.\n\n%v", ae.User, ae.Address, ae.Methods, ae.Err))
	case errors.As(err, &se):
		return diag.NewAttributeErrorDiagnostic(root.AtName("sudo"), "Sudo Not Permitted", fmt.Sprintf(
			"sudo = true, but user %q on %s cannot run commands as root without a password (sudo -n). "+
				"Give the user a NOPASSWD sudoers rule, connect as root, or set sudo = false.\n\nsudo said: %s", se.User, se.Address, se.Stderr))
	default:
		return diag.NewAttributeErrorDiagnostic(root, "Host Command Failed", err.Error())
	}
}

func hostIDMismatch(p path.Path, address, want, got string) diag.Diagnostic {
	return diag.NewAttributeErrorDiagnostic(p, "Host Identity Mismatch", fmt.Sprintf(
		"%s answers as machine %s, but this configuration manages machine %s. The address may now belong to another "+
			"host (re-addressed, swapped, or restored from an image). Nothing was changed. Fix the address, or update host_id "+
			"if the machine really is the one you mean.", address, got, want))
}

// resourceConnectionAttributes returns the connection attributes for a
// resource: as input (optional) or as the exported, computed `connection`.
func resourceConnectionAttributes(computed bool) map[string]rschema.Attribute {
	attrs := map[string]rschema.Attribute{}
	hop := map[string]rschema.Attribute{}
	for _, f := range connectionFields() {
		attrs[f.name] = resourceAttr(f, computed)
		if f.hop {
			hop[f.name] = resourceAttr(f, computed)
		}
	}
	attrs["bastions"] = rschema.ListNestedAttribute{
		Optional: !computed, Computed: computed, MarkdownDescription: bastionsDesc,
		NestedObject: rschema.NestedAttributeObject{Attributes: hop},
	}
	return attrs
}

func resourceAttr(f connField, computed bool) rschema.Attribute {
	optional := !computed
	var strVal []validator.String
	var intVal []validator.Int64
	if optional {
		strVal, intVal = f.strVal, f.intVal
	}
	switch f.kind {
	case kindInt:
		return rschema.Int64Attribute{Optional: optional, Computed: computed, Sensitive: f.sensitive, MarkdownDescription: f.desc, Validators: intVal}
	case kindBool:
		return rschema.BoolAttribute{Optional: optional, Computed: computed, Sensitive: f.sensitive, MarkdownDescription: f.desc}
	default:
		return rschema.StringAttribute{Optional: optional, Computed: computed, Sensitive: f.sensitive, MarkdownDescription: f.desc, Validators: strVal}
	}
}

// hopAttrTypes is the object type of one hop (a bastion).
func hopAttrTypes() map[string]attr.Type {
	hop := map[string]attr.Type{}
	for _, f := range connectionFields() {
		if f.hop {
			hop[f.name] = f.attrType()
		}
	}
	return hop
}

// connectionAttrTypes is the object type of the connection object.
func connectionAttrTypes() map[string]attr.Type {
	all := map[string]attr.Type{}
	for _, f := range connectionFields() {
		all[f.name] = f.attrType()
	}
	all["bastions"] = types.ListType{ElemType: types.ObjectType{AttrTypes: hopAttrTypes()}}
	return all
}

func (f connField) attrType() attr.Type {
	switch f.kind {
	case kindInt:
		return types.Int64Type
	case kindBool:
		return types.BoolType
	default:
		return types.StringType
	}
}
