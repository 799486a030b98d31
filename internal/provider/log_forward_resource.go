package provider

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	tfpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// NewLogForwardResource returns the steward_log_forward resource: the
// managed-object resource with the log forward kind.
func NewLogForwardResource() resource.Resource {
	return &objectResource[logForwardModel, *logForwardModel, api.LogForward, api.LogForwardObserved]{k: logForwardKind()}
}

type logForwardModel struct {
	objectState
	Journal  types.Object `tfsdk:"journal"`
	Files    types.List   `tfsdk:"files"`
	Target   types.Object `tfsdk:"target"`
	StartAt  types.String `tfsdk:"start_at"`
	Hostname types.String `tfsdk:"hostname"`

	Connected types.Bool   `tfsdk:"connected"`
	LinesSent types.Int64  `tfsdk:"lines_sent"`
	LastError types.String `tfsdk:"last_error"`
	Sources   types.List   `tfsdk:"sources"`
}

type logJournalModel struct {
	Units       types.List   `tfsdk:"units"`
	Identifiers types.List   `tfsdk:"identifiers"`
	Priority    types.String `tfsdk:"priority"`
}

type logFileModel struct {
	Path     types.String `tfsdk:"path"`
	Tag      types.String `tfsdk:"tag"`
	Facility types.String `tfsdk:"facility"`
	Severity types.String `tfsdk:"severity"`
}

type logTargetModel struct {
	Address         types.String `tfsdk:"address"`
	Protocol        types.String `tfsdk:"protocol"`
	CAFile          types.String `tfsdk:"ca_file"`
	ServerName      types.String `tfsdk:"server_name"`
	CertFile        types.String `tfsdk:"cert_file"`
	KeyFile         types.String `tfsdk:"key_file"`
	MaxMessageBytes types.Int64  `tfsdk:"max_message_bytes"`
}

type logSourceModel struct {
	Source       types.String  `tfsdk:"source"`
	Cursor       types.String  `tfsdk:"cursor"`
	Offset       types.Int64   `tfsdk:"offset"`
	BacklogBytes types.Int64   `tfsdk:"backlog_bytes"`
	LagSeconds   types.Float64 `tfsdk:"lag_seconds"`
	LinesSent    types.Int64   `tfsdk:"lines_sent"`
	LastError    types.String  `tfsdk:"last_error"`
}

var (
	logJournalAttrTypes = map[string]attr.Type{"units": types.ListType{ElemType: types.StringType},
		"identifiers": types.ListType{ElemType: types.StringType}, "priority": types.StringType}
	logFileAttrTypes = map[string]attr.Type{"path": types.StringType, "tag": types.StringType,
		"facility": types.StringType, "severity": types.StringType}
	logTargetAttrTypes = map[string]attr.Type{"address": types.StringType, "protocol": types.StringType,
		"ca_file": types.StringType, "server_name": types.StringType, "cert_file": types.StringType,
		"key_file": types.StringType, "max_message_bytes": types.Int64Type}
	logSourceAttrTypes = map[string]attr.Type{"source": types.StringType, "cursor": types.StringType,
		"offset": types.Int64Type, "backlog_bytes": types.Int64Type, "lag_seconds": types.Float64Type,
		"lines_sent": types.Int64Type, "last_error": types.StringType}
)

// logForwardDescription documents steward_log_forward.
const logForwardDescription = "Log forwarding by the Steward agent on a host: journald entries (filtered by unit, " +
	"identifier and priority) and log files (followed across rotation by inode and offset) sent to one syslog receiver as " +
	"RFC 5424 messages, over TCP with octet-counting framing, over TLS with a pinned CA, or over UDP. Over TCP and TLS " +
	"delivery is at least once: the journald cursor and the file offsets are saved on the host " +
	"(`" + api.StateDir + "/log_forward/<name>`) and advance only after the receiver's TCP acknowledged the lines, a " +
	"receiver that is down is retried with backoff while journald and the files hold the lines, and an agent restart " +
	"loses nothing. UDP gives no guarantee. `steward-agent logs status` on the host shows the same state as the " +
	"computed attributes."

func oneOfDescription(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}

// logForwardAttributes are the kind's own attributes (schema version 0);
// objectSchema adds host, name, id, host_id and config_sha256.
func logForwardAttributes() map[string]schema.Attribute {
	str := func(desc string, v ...validator.String) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, MarkdownDescription: desc, Validators: v}
	}
	computedStr := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	computedInt := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Computed: true, MarkdownDescription: desc}
	}
	return map[string]schema.Attribute{
		// Required.
		"target": schema.SingleNestedAttribute{Required: true, MarkdownDescription: "The syslog receiver.",
			Attributes: map[string]schema.Attribute{
				"address": schema.StringAttribute{Required: true,
					MarkdownDescription: "`host:port` of the receiver as the host reaches it, e.g. `logs.example.com:6514` or `[2001:db8::1]:514`."},
				"protocol": schema.StringAttribute{Required: true,
					MarkdownDescription: "One of " + oneOfDescription(api.LogProtocols) + ": `tcp` is RFC 6587 octet counting, " +
						"`tls` the same over TLS (RFC 5425), `udp` one message per datagram (RFC 5426, no delivery guarantee).",
					Validators: []validator.String{stringvalidator.OneOf(api.LogProtocols...)}},
				"ca_file": str("CA certificate(s), PEM, **on the host** (root-only), that the receiver's certificate must chain to; " +
					"required with `tls`. The system's roots are never consulted: the CA is pinned."),
				"server_name": str("The name the receiver's certificate must carry (`tls` only); defaults to the host part of `address`."),
				"cert_file":   str("Client certificate, PEM, on the host (root-only), for receivers that authenticate senders (`tls` only; with `key_file`)."),
				"key_file":    str("Client key, PEM, on the host (root-only; `tls` only; with `cert_file`). Never read by Terraform."),
				"max_message_bytes": schema.Int64Attribute{Optional: true,
					MarkdownDescription: fmt.Sprintf("Bound of one message (header and text); longer text is cut at a UTF-8 boundary. "+
						"%d to %d; defaults to 8192 over TCP and TLS (what rsyslog accepts by default) and 2048 over UDP.",
						api.LogMinMessageBytes, api.LogMaxMessageBytes)},
			}},
		// Optional.
		"journal": schema.SingleNestedAttribute{Optional: true,
			MarkdownDescription: "Forward journald entries. An entry is sent when it matches one of `units` (if any), one of " +
				"`identifiers` (if any) and is at `priority` or more severe, as `journalctl --unit --identifier --priority` select.",
			Attributes: map[string]schema.Attribute{
				"units": schema.ListAttribute{Optional: true, ElementType: types.StringType,
					MarkdownDescription: "systemd unit names or globs, e.g. `[\"nginx.service\", \"app-*\"]`."},
				"identifiers": schema.ListAttribute{Optional: true, ElementType: types.StringType,
					MarkdownDescription: "`SYSLOG_IDENTIFIER` values, e.g. `[\"sshd\", \"CRON\"]`."},
				"priority": str("The least severe priority sent, one of "+oneOfDescription(api.SyslogSeverities)+"; all when unset.",
					stringvalidator.OneOf(api.SyslogSeverities...)),
			}},
		"files": schema.ListNestedAttribute{Optional: true,
			MarkdownDescription: "Log files to follow, by inode and offset: a file renamed away and created anew, or copied and " +
				"truncated, is followed without loss. Each file's directory must exist on the host.",
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"path": schema.StringAttribute{Required: true, MarkdownDescription: "Absolute path of the file on the host."},
				"tag":  str("The messages' APP-NAME; defaults to the file's base name."),
				"facility": str("The messages' facility, one of "+oneOfDescription(api.SyslogFacilities)+"; defaults to `local0`.",
					stringvalidator.OneOf(api.SyslogFacilities...)),
				"severity": str("The messages' severity, one of "+oneOfDescription(api.SyslogSeverities)+"; defaults to `notice`.",
					stringvalidator.OneOf(api.SyslogSeverities...)),
			}}},
		"start_at": str("Where a source without a saved position begins: `end` (the default: only what is logged from now on) or "+
			"`beginning` (all of the journal, each file from its first byte). A saved position always wins.",
			stringvalidator.OneOf(api.LogStartPositions...)),
		"hostname": str("The HOSTNAME of every message; defaults to the journal entry's `_HOSTNAME`, and the host's name for files."),
		// Computed.
		"connected": schema.BoolAttribute{Computed: true,
			MarkdownDescription: "Whether the agent has a connection to the receiver open (as of the last read)."},
		"lines_sent": computedInt("Lines the receiver acknowledged since the forwarder (re)started; a line sent again after a reconnect counts again."),
		"last_error": computedStr("The forwarder's last failure (connecting, writing), or why the agent daemon does not forward " +
			"this spec (it does not run, or refuses the file)."),
		"sources": schema.ListNestedAttribute{Computed: true,
			MarkdownDescription: "One entry per source, the journal first, then the files in order: the saved position and how far behind it is.",
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"source":        computedStr("`journal`, or the file's path."),
				"cursor":        computedStr("The journald cursor of the last acknowledged entry."),
				"offset":        computedInt("The byte after the last acknowledged line of a file."),
				"backlog_bytes": computedInt("How much of a file is not acknowledged yet."),
				"lag_seconds": schema.Float64Attribute{Computed: true,
					MarkdownDescription: "Age of the oldest line read and not acknowledged yet; 0 when all are. Grows while the receiver is down."},
				"lines_sent": computedInt("Lines of this source the receiver acknowledged."),
				"last_error": computedStr("The source's own last failure (journalctl exiting, a file that cannot be read)."),
			}}},
	}
}

// logForwardKind is steward_log_forward as a managed object.
func logForwardKind() objectKind[logForwardModel, api.LogForward, api.LogForwardObserved] {
	return objectKind[logForwardModel, api.LogForward, api.LogForwardObserved]{
		api:             api.LogForwardKind,
		typeName:        "log_forward",
		description:     logForwardDescription,
		nameDescription: "The forwarder's name on the host.",
		attributes:      logForwardAttributes(),
		validators:      []resource.ConfigValidator{logForwardSpecValidator{}},
		known: func(m *logForwardModel) bool {
			return fullyKnown(m.Name, m.Journal, m.Files, m.Target, m.StartAt, m.Hostname)
		},
		toSpec: func(ctx context.Context, m *logForwardModel) (api.LogForward, diag.Diagnostics) { return m.toSpec(ctx) },
		fromSpec: func(ctx context.Context, m *logForwardModel, s api.LogForward) diag.Diagnostics {
			return m.fromSpec(ctx, s)
		},
		observe:        (*logForwardModel).setStatus,
		configureError: logForwardConfigureError,
	}
}

// fullyKnown says whether vs and everything nested in them are known.
func fullyKnown(vs ...attr.Value) bool {
	for _, v := range vs {
		if v.IsUnknown() {
			return false
		}
		switch v := v.(type) {
		case basetypes.ObjectValue:
			if !fullyKnown(slices.Collect(maps.Values(v.Attributes()))...) {
				return false
			}
		case basetypes.ListValue:
			if !fullyKnown(v.Elements()...) {
				return false
			}
		}
	}
	return true
}

func (m *logForwardModel) toSpec(ctx context.Context) (api.LogForward, diag.Diagnostics) {
	var diags diag.Diagnostics
	spec := api.LogForward{Name: m.Name.ValueString(), StartAt: m.StartAt.ValueString(), Hostname: m.Hostname.ValueString()}
	if !m.Journal.IsNull() && !m.Journal.IsUnknown() {
		var j logJournalModel
		diags.Append(m.Journal.As(ctx, &j, basetypes.ObjectAsOptions{})...)
		spec.Journal = &api.LogJournal{Units: stringList(ctx, j.Units, &diags), Identifiers: stringList(ctx, j.Identifiers, &diags),
			Priority: j.Priority.ValueString()}
	}
	if !m.Files.IsNull() && !m.Files.IsUnknown() {
		var files []logFileModel
		diags.Append(m.Files.ElementsAs(ctx, &files, false)...)
		for _, f := range files {
			spec.Files = append(spec.Files, api.LogFile{Path: f.Path.ValueString(), Tag: f.Tag.ValueString(),
				Facility: f.Facility.ValueString(), Severity: f.Severity.ValueString()})
		}
	}
	if !m.Target.IsNull() && !m.Target.IsUnknown() {
		var t logTargetModel
		diags.Append(m.Target.As(ctx, &t, basetypes.ObjectAsOptions{})...)
		spec.Target = api.LogTarget{Address: t.Address.ValueString(), Protocol: t.Protocol.ValueString(), CAFile: t.CAFile.ValueString(),
			ServerName: t.ServerName.ValueString(), CertFile: t.CertFile.ValueString(), KeyFile: t.KeyFile.ValueString(),
			MaxMessageBytes: int(t.MaxMessageBytes.ValueInt64())}
	}
	return spec, diags
}

// keepString is the host's value, or null where the host has it empty and
// the configuration left it unset, so an unset attribute is no drift.
func keepString(prior types.String, host string) types.String {
	if host == "" && prior.IsNull() {
		return types.StringNull()
	}
	return types.StringValue(host)
}

func keepList(ctx context.Context, prior types.List, host []string, diags *diag.Diagnostics) types.List {
	if len(host) == 0 && prior.IsNull() {
		return types.ListNull(types.StringType)
	}
	l, d := types.ListValueFrom(ctx, types.StringType, host)
	diags.Append(d...)
	return l
}

// fromSpec copies the spec the host has into m, keeping unset what the
// host has empty and the configuration left unset.
func (m *logForwardModel) fromSpec(ctx context.Context, s api.LogForward) diag.Diagnostics {
	var diags diag.Diagnostics
	m.Name = types.StringValue(s.Name)
	m.StartAt, m.Hostname = keepString(m.StartAt, s.StartAt), keepString(m.Hostname, s.Hostname)

	var pj logJournalModel
	if !m.Journal.IsNull() && !m.Journal.IsUnknown() {
		diags.Append(m.Journal.As(ctx, &pj, basetypes.ObjectAsOptions{})...)
	} else {
		pj = logJournalModel{Units: types.ListNull(types.StringType), Identifiers: types.ListNull(types.StringType)}
	}
	if j := s.Journal; j != nil {
		obj, d := types.ObjectValueFrom(ctx, logJournalAttrTypes, logJournalModel{
			Units: keepList(ctx, pj.Units, j.Units, &diags), Identifiers: keepList(ctx, pj.Identifiers, j.Identifiers, &diags),
			Priority: keepString(pj.Priority, j.Priority)})
		diags.Append(d...)
		m.Journal = obj
	} else {
		m.Journal = types.ObjectNull(logJournalAttrTypes)
	}

	var prior []logFileModel
	if !m.Files.IsNull() && !m.Files.IsUnknown() {
		diags.Append(m.Files.ElementsAs(ctx, &prior, false)...)
	}
	if len(s.Files) == 0 && m.Files.IsNull() {
		m.Files = types.ListNull(types.ObjectType{AttrTypes: logFileAttrTypes})
	} else {
		files := make([]logFileModel, len(s.Files))
		for i, f := range s.Files {
			p := logFileModel{Tag: types.StringNull(), Facility: types.StringNull(), Severity: types.StringNull()}
			if i < len(prior) {
				p = prior[i]
			}
			files[i] = logFileModel{Path: types.StringValue(f.Path), Tag: keepString(p.Tag, f.Tag),
				Facility: keepString(p.Facility, f.Facility), Severity: keepString(p.Severity, f.Severity)}
		}
		l, d := types.ListValueFrom(ctx, types.ObjectType{AttrTypes: logFileAttrTypes}, files)
		diags.Append(d...)
		m.Files = l
	}

	pt := logTargetModel{CAFile: types.StringNull(), ServerName: types.StringNull(), CertFile: types.StringNull(),
		KeyFile: types.StringNull(), MaxMessageBytes: types.Int64Null()}
	if !m.Target.IsNull() && !m.Target.IsUnknown() {
		diags.Append(m.Target.As(ctx, &pt, basetypes.ObjectAsOptions{})...)
	}
	t := s.Target
	maxBytes := types.Int64Value(int64(t.MaxMessageBytes))
	if t.MaxMessageBytes == 0 && pt.MaxMessageBytes.IsNull() {
		maxBytes = types.Int64Null()
	}
	obj, d := types.ObjectValueFrom(ctx, logTargetAttrTypes, logTargetModel{Address: types.StringValue(t.Address),
		Protocol: types.StringValue(t.Protocol), CAFile: keepString(pt.CAFile, t.CAFile), ServerName: keepString(pt.ServerName, t.ServerName),
		CertFile: keepString(pt.CertFile, t.CertFile), KeyFile: keepString(pt.KeyFile, t.KeyFile), MaxMessageBytes: maxBytes})
	diags.Append(d...)
	m.Target = obj
	return diags
}

func (m *logForwardModel) setStatus(st api.ObjectStatus[api.LogForward, api.LogForwardObserved], _ time.Time) {
	o := st.Observed
	m.Connected = types.BoolValue(o.Connected)
	m.LinesSent = types.Int64Value(int64(o.LinesSent))
	m.LastError = types.StringValue(o.LastError)
	sources := make([]logSourceModel, len(o.Sources))
	for i, s := range o.Sources {
		sources[i] = logSourceModel{Source: types.StringValue(s.Source), Cursor: types.StringValue(s.Cursor),
			Offset: types.Int64Value(s.Offset), BacklogBytes: types.Int64Value(s.BacklogBytes),
			LagSeconds: types.Float64Value(s.LagSeconds), LinesSent: types.Int64Value(int64(s.LinesSent)),
			LastError: types.StringValue(s.LastError)}
	}
	// The element type is fixed and every field set: this cannot fail.
	m.Sources, _ = types.ListValueFrom(context.Background(), types.ObjectType{AttrTypes: logSourceAttrTypes}, sources)
}

// specAttrPattern is the attribute an api.LogForward.Validate message or a
// log_forward.configure refusal starts with: "files[1].path",
// "journal.units[0]", "target.ca_file".
var specAttrPattern = regexp.MustCompile(`^([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*)[ :]`)

// specAttrPath turns the attribute a message starts with into the path of
// that attribute, or false when it names none of the resource's.
func specAttrPath(msg string) (tfpath.Path, bool) {
	m := specAttrPattern.FindStringSubmatch(msg)
	if m == nil {
		return tfpath.Empty(), false
	}
	var p tfpath.Path
	for i, seg := range strings.Split(m[1], ".") {
		name, idx, indexed := strings.Cut(strings.TrimSuffix(seg, "]"), "[")
		if i == 0 {
			if !slices.Contains([]string{"journal", "files", "target", "start_at", "hostname", "name"}, name) {
				return tfpath.Empty(), false
			}
			p = tfpath.Root(name)
		} else {
			p = p.AtName(name)
		}
		if indexed {
			n, err := strconv.Atoi(idx)
			if err != nil {
				return tfpath.Empty(), false
			}
			p = p.AtListIndex(n)
		}
	}
	return p, true
}

// logForwardConfigureError blames the agent's refusals on the attribute
// they name.
func logForwardConfigureError(ae *api.Error, address string) (diag.Diagnostic, bool) {
	var summary string
	switch ae.Code {
	case api.CodeLogDirMissing:
		summary = "Log File Directory Not Found"
	case api.CodeLogTLSFile:
		summary = "Unusable Log Forward TLS File"
	default:
		return nil, false
	}
	detail := fmt.Sprintf("On %s: %s.", address, ae.Message)
	if p, ok := specAttrPath(ae.Message); ok {
		return diag.NewAttributeErrorDiagnostic(p, summary, detail), true
	}
	return diag.NewErrorDiagnostic(summary, detail), true
}

// logForwardSpecValidator checks the whole spec at plan time as the agent
// does (api.LogForward.Validate), once it is known, and blames the
// attribute the check names.
type logForwardSpecValidator struct{}

func (logForwardSpecValidator) Description(context.Context) string {
	return "the forwarder is what the agent accepts: a journal or files, a host:port target, TLS files only with tls"
}

func (v logForwardSpecValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (logForwardSpecValidator) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m logForwardModel
	if diags := req.Config.Get(ctx, &m); diags.HasError() {
		return
	}
	if !fullyKnown(m.Name, m.Journal, m.Files, m.Target, m.StartAt, m.Hostname) {
		return
	}
	spec, diags := m.toSpec(ctx)
	if diags.HasError() {
		return
	}
	if spec.Name == "" {
		spec.Name = "x" // objectSchema checks the name itself
	}
	// Values outside their enums are reported by the attributes' own
	// validators; checking the rest must not report them twice.
	clearUnless := func(v *string, list []string) {
		if *v != "" && !slices.Contains(list, *v) {
			*v = ""
		}
	}
	if !slices.Contains(api.LogProtocols, spec.Target.Protocol) {
		return
	}
	clearUnless(&spec.StartAt, api.LogStartPositions)
	if spec.Journal != nil {
		clearUnless(&spec.Journal.Priority, api.SyslogSeverities)
	}
	for i := range spec.Files {
		clearUnless(&spec.Files[i].Facility, api.SyslogFacilities)
		clearUnless(&spec.Files[i].Severity, api.SyslogSeverities)
	}
	err := spec.Validate()
	if err == nil {
		return
	}
	if p, ok := specAttrPath(err.Error()); ok {
		resp.Diagnostics.AddAttributeError(p, "Invalid Log Forward", err.Error()+".")
		return
	}
	resp.Diagnostics.AddError("Invalid Log Forward", err.Error()+".")
}
