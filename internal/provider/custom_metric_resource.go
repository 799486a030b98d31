package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	tfpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// NewCustomMetricResource returns the steward_custom_metric resource: the
// managed-object resource with the custom metric kind.
func NewCustomMetricResource() resource.Resource {
	return &objectResource[customMetricModel, *customMetricModel, api.CustomMetric, api.CustomMetricObserved]{k: customMetricKind()}
}

type customMetricModel struct {
	objectState
	Command types.List   `tfsdk:"command"`
	Timeout types.String `tfsdk:"timeout"`
	Help    types.String `tfsdk:"help"`

	MetricName  types.String `tfsdk:"metric_name"`
	Collecting  types.Bool   `tfsdk:"collecting"`
	LastRunAt   types.String `tfsdk:"last_run_at"`
	LastRunOK   types.Bool   `tfsdk:"last_run_ok"`
	LastError   types.String `tfsdk:"last_error"`
	SeriesCount types.Int64  `tfsdk:"series_count"`
}

// customMetricDescription documents steward_custom_metric.
const customMetricDescription = "A custom metric collected by the Steward agent on a host: a program run every collection " +
	"interval, as root, without a shell, with a timeout and a bounded read of its standard output. The output is either " +
	"Prometheus text format or one number; one number is served on `/metrics` (and kept in the history) as the gauge " +
	"`steward_custom_<name>`. A run that fails, hangs past its timeout or prints something that does not parse serves " +
	"nothing from that run (never half of it), marks `steward_collector_success{collector=\"custom_<name>\"}` 0 and " +
	"shows in `last_error`, quoting the offending line; the other collectors are unaffected."

// customMetricAttributes are the kind's own attributes (schema version 0);
// objectSchema adds host, name, id, host_id and config_sha256.
func customMetricAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		// Required.
		"command": schema.ListAttribute{Required: true, ElementType: types.StringType,
			MarkdownDescription: "The program and its arguments, e.g. `[\"/usr/local/bin/queue-depth\", \"--queue\", \"mail\"]`. " +
				"The first element is the program's absolute path: no shell and no `PATH` lookup runs it, so quoting and " +
				"`$VARS` mean nothing. It runs as root with standard input from `/dev/null`, an environment of only a fixed " +
				"`PATH` and the C locale, and at most 64 KiB of standard output. The program must be an executable file on " +
				"the host when the metric is applied.",
			Validators: []validator.List{customMetricCommandValidator{}}},
		// Optional.
		"timeout": schema.StringAttribute{Optional: true,
			MarkdownDescription: "How long one run may take; at the timeout the program and every process it started are " +
				"killed. At most the host's collection interval (`steward_host`'s `monitoring.interval`), which the agent " +
				"checks on apply. Defaults to `" + api.DefaultCustomMetricTimeout + "`, or the interval when that is shorter.",
			Validators: []validator.String{stringCheck{
				desc:  "a positive duration of at most 1h, such as \"500ms\" or \"5s\"",
				check: func(s string) error { _, err := api.ParseCustomMetricTimeout(s); return err },
			}}},
		"help": schema.StringAttribute{Optional: true,
			MarkdownDescription: "The `# HELP` text of `steward_custom_<name>`, and of the families of text-format output that bring none.",
			Validators:          []validator.String{stringCheck{desc: "one line of text of at most 1024 bytes", check: api.CheckCustomMetricHelp}}},
		// Computed.
		"metric_name": schema.StringAttribute{Computed: true,
			MarkdownDescription: "`steward_custom_<name>`: the metric a command that prints one number yields, for alert rules."},
		"collecting": schema.BoolAttribute{Computed: true,
			MarkdownDescription: "Whether the agent daemon runs the command. False right after the first apply, until the daemon " +
				"has read the new spec (well within a second), and while the daemon is down."},
		"last_run_at": schema.StringAttribute{Computed: true,
			MarkdownDescription: "When the collection that last ran the command ended (RFC 3339); empty before the first."},
		"last_run_ok": schema.BoolAttribute{Computed: true,
			MarkdownDescription: "Whether the last run's output was served; false before the first run."},
		"last_error": schema.StringAttribute{Computed: true,
			MarkdownDescription: "Why the last run served nothing: a timeout, a failed exit with the start of its standard error, " +
				"or output that does not parse, naming the offending line. Also says when the agent daemon does not answer."},
		"series_count": schema.Int64Attribute{Computed: true, MarkdownDescription: "How many series the last run served."},
	}
}

// customMetricKind is steward_custom_metric as a managed object.
func customMetricKind() objectKind[customMetricModel, api.CustomMetric, api.CustomMetricObserved] {
	return objectKind[customMetricModel, api.CustomMetric, api.CustomMetricObserved]{
		api:         api.CustomMetricKind,
		typeName:    "custom_metric",
		description: customMetricDescription,
		nameDescription: "The metric's name: lower-case letters, digits and `_`, starting with a letter. A command that prints " +
			"one number yields `steward_custom_<name>`.",
		attributes: customMetricAttributes(),
		validators: []resource.ConfigValidator{customMetricNameValidator{}},
		known: func(m *customMetricModel) bool {
			for _, v := range []attr.Value{m.Name, m.Command, m.Timeout, m.Help} {
				if v.IsUnknown() {
					return false
				}
			}
			return true
		},
		toSpec: func(ctx context.Context, m *customMetricModel) (api.CustomMetric, diag.Diagnostics) {
			return m.toSpec(ctx)
		},
		fromSpec: func(ctx context.Context, m *customMetricModel, s api.CustomMetric) diag.Diagnostics {
			return m.fromSpec(ctx, s)
		},
		observe: (*customMetricModel).setStatus,
		plan: func(_ context.Context, plan, _ *customMetricModel, _ bool, _ *diag.Diagnostics) {
			plan.MetricName = types.StringValue(metricNameOf(plan.Name.ValueString()))
		},
		configureError: customMetricConfigureError,
	}
}

func metricNameOf(name string) string { return "steward_custom_" + name }

func (m *customMetricModel) toSpec(ctx context.Context) (api.CustomMetric, diag.Diagnostics) {
	var diags diag.Diagnostics
	return api.CustomMetric{Name: m.Name.ValueString(), Command: stringList(ctx, m.Command, &diags),
		Timeout: m.Timeout.ValueString(), Help: m.Help.ValueString()}, diags
}

// fromSpec copies the spec the host has into m, keeping unset what the
// host has empty and the configuration left unset.
func (m *customMetricModel) fromSpec(ctx context.Context, s api.CustomMetric) diag.Diagnostics {
	cmd, diags := types.ListValueFrom(ctx, types.StringType, s.Command)
	m.Name, m.Command = types.StringValue(s.Name), cmd
	for _, f := range []struct {
		model *types.String
		host  string
	}{{&m.Timeout, s.Timeout}, {&m.Help, s.Help}} {
		if f.host != "" || !f.model.IsNull() {
			*f.model = types.StringValue(f.host)
		}
	}
	return diags
}

func (m *customMetricModel) setStatus(st api.ObjectStatus[api.CustomMetric, api.CustomMetricObserved], _ time.Time) {
	o := st.Observed
	m.MetricName = types.StringValue(metricNameOf(m.Name.ValueString()))
	m.Collecting = types.BoolValue(o.Collecting)
	m.LastRunAt = types.StringValue(rfc3339(o.LastRunAt))
	m.LastRunOK = types.BoolValue(o.OK)
	m.LastError = types.StringValue(o.LastError)
	if o.DaemonError != "" {
		m.LastError = types.StringValue(o.DaemonError)
	}
	m.SeriesCount = types.Int64Value(int64(o.SeriesCount))
}

// customMetricConfigureError blames the agent's refusals on the attribute
// they are about.
func customMetricConfigureError(ae *api.Error, address string) (diag.Diagnostic, bool) {
	var attr, summary string
	switch ae.Code {
	case api.CodeProgramMissing:
		attr, summary = "command", "Custom Metric Program Not Found"
	case api.CodeTimeoutTooLong:
		attr, summary = "timeout", "Custom Metric Timeout Too Long"
	default:
		return nil, false
	}
	return diag.NewAttributeErrorDiagnostic(tfpath.Root(attr), summary, fmt.Sprintf("On %s: %s.", address, ae.Message)), true
}

// customMetricCommandValidator checks a command at plan time as the agent
// does (api.CheckCustomMetricCommand), once every element is known.
type customMetricCommandValidator struct{}

func (customMetricCommandValidator) Description(context.Context) string {
	return "the program's absolute path, then its arguments"
}

func (v customMetricCommandValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (customMetricCommandValidator) ValidateList(ctx context.Context, req validator.ListRequest, resp *validator.ListResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	for _, e := range req.ConfigValue.Elements() {
		if e.IsUnknown() {
			return
		}
	}
	args := stringList(ctx, req.ConfigValue, &resp.Diagnostics)
	if err := api.CheckCustomMetricCommand(args); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Custom Metric Command", err.Error()+".")
	}
}

// customMetricNameValidator narrows the managed-object name to what a
// metric name may end with (api.CustomMetricNamePattern).
type customMetricNameValidator struct{}

func (customMetricNameValidator) Description(context.Context) string {
	return "name is snake_case: a-z, 0-9 and _, starting with a letter"
}

func (v customMetricNameValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (customMetricNameValidator) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var name types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, tfpath.Root("name"), &name)...)
	if name.IsNull() || name.IsUnknown() {
		return
	}
	if err := api.CheckCustomMetricName(name.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(tfpath.Root("name"), "Invalid Custom Metric Name", err.Error()+".")
	}
}
