package provider

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	tfpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// NewNotificationChannelResource returns the steward_notification_channel
// resource: the managed-object resource with the channel kind.
func NewNotificationChannelResource() resource.Resource {
	return &objectResource[channelModel, *channelModel, api.NotificationChannel, api.NotificationChannelObserved]{k: channelKind()}
}

type channelModel struct {
	objectState
	Type            types.String `tfsdk:"type"`
	Webhook         types.Object `tfsdk:"webhook"`
	Alertmanager    types.Object `tfsdk:"alertmanager"`
	Email           types.Object `tfsdk:"email"`
	Slack           types.Object `tfsdk:"slack"`
	Command         types.Object `tfsdk:"command"`
	RepeatInterval  types.String `tfsdk:"repeat_interval"`
	TestOnCreate    types.Bool   `tfsdk:"test_on_create"`
	Heartbeat       types.Object `tfsdk:"heartbeat"`
	Timeout         types.String `tfsdk:"timeout"`
	RetryMin        types.String `tfsdk:"retry_min"`
	RetryMax        types.String `tfsdk:"retry_max"`
	QueueMaxAge     types.String `tfsdk:"queue_max_age"`
	QueueMaxEntries types.Int64  `tfsdk:"queue_max_entries"`

	QueueLength        types.Int64  `tfsdk:"queue_length"`
	OldestQueuedAt     types.String `tfsdk:"oldest_queued_at"`
	Firing             types.Int64  `tfsdk:"firing"`
	LastAttemptAt      types.String `tfsdk:"last_attempt_at"`
	LastDeliveryAt     types.String `tfsdk:"last_delivery_at"`
	LastError          types.String `tfsdk:"last_error"`
	LastErrorAt        types.String `tfsdk:"last_error_at"`
	Delivered          types.Int64  `tfsdk:"delivered"`
	Failed             types.Int64  `tfsdk:"failed"`
	Rejected           types.Int64  `tfsdk:"rejected"`
	Dropped            types.Int64  `tfsdk:"dropped"`
	Damaged            types.Int64  `tfsdk:"damaged"`
	LastHeartbeatAt    types.String `tfsdk:"last_heartbeat_at"`
	LastHeartbeatError types.String `tfsdk:"last_heartbeat_error"`
	Note               types.String `tfsdk:"note"`
}

type webhookModel struct {
	URL               types.String `tfsdk:"url"`
	SecretFile        types.String `tfsdk:"secret_file"`
	AuthorizationFile types.String `tfsdk:"authorization_file"`
	MaxAlerts         types.Int64  `tfsdk:"max_alerts"`
}

type alertmanagerModel struct {
	URLs              types.List   `tfsdk:"urls"`
	ResendInterval    types.String `tfsdk:"resend_interval"`
	AuthorizationFile types.String `tfsdk:"authorization_file"`
}

type emailModel struct {
	Host         types.String `tfsdk:"host"`
	Port         types.Int64  `tfsdk:"port"`
	TLS          types.String `tfsdk:"tls"`
	From         types.String `tfsdk:"from"`
	To           types.List   `tfsdk:"to"`
	Username     types.String `tfsdk:"username"`
	PasswordFile types.String `tfsdk:"password_file"`
	CAFile       types.String `tfsdk:"ca_file"`
}

type slackModel struct {
	URLFile   types.String `tfsdk:"url_file"`
	URLSHA256 types.String `tfsdk:"url_sha256"`
}

type commandModel struct {
	Args types.List `tfsdk:"args"`
}

type heartbeatModel struct {
	URL      types.String `tfsdk:"url"`
	URLFile  types.String `tfsdk:"url_file"`
	Interval types.String `tfsdk:"interval"`
	Method   types.String `tfsdk:"method"`
}

const channelDescription = "A notification channel on a host: where the host's alerts go, through a persisted delivery queue with " +
	"retries and backoff, so a receiver that is down gets everything once it is back, in order (within `queue_max_age` and " +
	"`queue_max_entries`; what is dropped past them is counted in `dropped`). Set `type` and its block. **Secrets never enter " +
	"Terraform state**: passwords, HMAC keys, Authorization headers and Slack webhook URLs are files on the host, named here " +
	"(mode 0600 or 0640, owned by root, read at every send), or kept only as a SHA-256. The spec is `/etc/steward/channels/<name>.json`; " +
	"an edit by hand shows in `terraform plan`, and the queue and the last error are in the computed attributes."

// hostFileDescription documents an attribute naming a secret file on the host.
func hostFileDescription(what string) string {
	return "A file **on the host** holding " + what + " (a clean absolute path; mode 0600 or 0640, owned by root; one trailing newline is " +
		"ignored). Only the path is in the spec and in state."
}

func channelAttributes() map[string]schema.Attribute {
	optString := func(desc string, v ...validator.String) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, MarkdownDescription: desc, Validators: v}
	}
	duration := func(desc, def string) schema.StringAttribute {
		if def != "" {
			desc += " Defaults to `" + def + "`."
		}
		return optString(desc, longDurationValidator)
	}
	strList := func(desc string, required bool) schema.ListAttribute {
		return schema.ListAttribute{Required: required, Optional: !required, ElementType: types.StringType, MarkdownDescription: desc,
			Validators: []validator.List{listvalidator.SizeAtLeast(1)}}
	}
	counter := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Computed: true, MarkdownDescription: desc + " Counted since the host's state directory was created."}
	}
	at := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: desc + " (RFC 3339), empty if never."}
	}
	block := func(t, desc string, attrs map[string]schema.Attribute) schema.SingleNestedAttribute {
		return schema.SingleNestedAttribute{Optional: true, Attributes: attrs,
			MarkdownDescription: desc + " Set when `type = \"" + t + "\"`, and only then."}
	}
	return map[string]schema.Attribute{
		"type": schema.StringAttribute{Required: true, Validators: []validator.String{stringvalidator.OneOf(api.ChannelTypes...)},
			MarkdownDescription: "One of " + codeList(api.ChannelTypes) + "; the block of the same name configures it."},
		"webhook": block(api.ChannelWebhook, "POSTs Alertmanager's webhook payload (version 4), so receivers written for Alertmanager work unchanged.",
			map[string]schema.Attribute{
				"url": schema.StringAttribute{Required: true,
					MarkdownDescription: "The receiver, `http://` or `https://`, without `user:password@` (use `authorization_file`). " +
						"It is stored in the spec and in state; errors and plans show it without its path and query."},
				"secret_file": optString(hostFileDescription("the HMAC key") + " Each request then carries `" + api.SignatureHeader +
					": sha256=<hex HMAC-SHA256 of the body>`."),
				"authorization_file": optString(hostFileDescription("the value of an `Authorization` header (`Bearer …`, `Basic …`)")),
				"max_alerts": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.AtLeast(0)},
					MarkdownDescription: "The most alerts in one payload; `truncatedAlerts` counts the rest, as in Alertmanager. Defaults to `0` (all)."},
			}),
		"alertmanager": block(api.ChannelAlertmanager, "POSTs alerts to Alertmanager's `/api/v2/alerts` on every URL (the members of one cluster), "+
			"re-sending firing alerts every `resend_interval` as Prometheus does and sending `endsAt` on resolve; Alertmanager then groups, "+
			"inhibits and routes them.",
			map[string]schema.Attribute{
				"urls": strList("Base URLs of the cluster's members, e.g. `[\"http://alertmanager:9093\"]` (Steward appends `/api/v2/alerts`). "+
					"A notification counts as delivered when one member accepted it.", true),
				"resend_interval":    duration("How often firing alerts are sent again (between `10s` and `1h`).", api.DefaultAlertmanagerResend),
				"authorization_file": optString(hostFileDescription("the value of an `Authorization` header")),
			}),
		"email": block(api.ChannelEmail, "Sends a plain-text e-mail over SMTP.",
			map[string]schema.Attribute{
				"host": schema.StringAttribute{Required: true, MarkdownDescription: "The SMTP server's DNS name or IP address."},
				"port": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, 65535)},
					MarkdownDescription: "Defaults to `587` for `starttls`, `465` for `implicit` and `25` for `none`."},
				"tls": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(api.SMTPStartTLS),
					Validators: []validator.String{stringvalidator.OneOf(api.SMTPModes...)},
					MarkdownDescription: "`starttls` (the server must offer STARTTLS), `implicit` (TLS from the first byte, SMTPS) or `none` " +
						"(accepted only for a loopback server). Defaults to `starttls`."},
				"from": schema.StringAttribute{Required: true, MarkdownDescription: "The sender, `alerts@example.com` or `Alerts <alerts@example.com>`."},
				"to":   strList("The recipients' addresses.", true),
				"username": optString("Authenticates (AUTH PLAIN, or LOGIN when the server offers only that) with `password_file`; " +
					"set both or neither."),
				"password_file": optString(hostFileDescription("the SMTP password")),
				"ca_file": optString("A PEM file on the host with the CA certificates the server's certificate must chain to, instead of " +
					"the host's trust store."),
			}),
		"slack": block(api.ChannelSlack, "POSTs Slack's incoming-webhook message, which Mattermost, Rocket.Chat and others accept too. The "+
			"webhook URL is its own credential, so only a file on the host holds it.",
			map[string]schema.Attribute{
				"url_file": schema.StringAttribute{Required: true, MarkdownDescription: hostFileDescription("the incoming-webhook URL")},
				"url_sha256": optString("The hex SHA-256 of that URL, e.g. `sha256(var.slack_url)`: only the digest enters state, and the "+
					"agent refuses to send to a URL with another digest, so an edit of the file on the host is never used unreviewed.",
					stringvalidator.RegexMatches(regexp.MustCompile(`^[0-9a-f]{64}$`), "must be 64 lower-case hex digits")),
			}),
		"command": block(api.ChannelCommand, "Runs a program, without a shell, with the notification's JSON on stdin; exit status 0 means delivered.",
			map[string]schema.Attribute{
				"args": strList("The program's absolute path and its arguments.", true),
			}),
		"repeat_interval": duration("How long an alert that still fires waits after the last notification that carried it before this "+
			"channel sends it again (between `1m` and `30d`); the rule's `repeat_interval` repeats too, whichever is due first. Not for "+
			"`alertmanager` channels, where Alertmanager's route repeats. Defaults to never.", ""),
		"test_on_create": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
			MarkdownDescription: "Send a test notification when the channel is created, and fail the create when it is not delivered. Defaults to `false`."},
		"heartbeat": schema.SingleNestedAttribute{Optional: true,
			MarkdownDescription: "A dead-man's switch: while the host's alerting works, the agent requests this URL every `interval`, so a " +
				"service outside the host (healthchecks.io, Dead Man's Snitch, a blackbox probe) alerts when the requests stop. Set `url` or `url_file`.",
			Attributes: map[string]schema.Attribute{
				"url":      optString("The URL to request."),
				"url_file": optString(hostFileDescription("the URL, for a URL that is itself a token")),
				"interval": duration("Between two requests (between `10s` and `24h`).", api.DefaultHeartbeatInterval),
				"method": optString("`GET` or `POST` (a small JSON body naming the host). Defaults to `"+api.DefaultHeartbeatMethod+"`.",
					stringvalidator.OneOf("GET", "POST")),
			}},
		"timeout":       duration("Bounds one delivery attempt: one HTTP request (to each URL), one SMTP session, one run of the command (between `1s` and `5m`).", api.DefaultChannelTimeout),
		"retry_min":     duration("The first delay after a failed attempt; it doubles up to `retry_max`, each with up to half of it as jitter.", api.DefaultChannelRetryMin),
		"retry_max":     duration("The longest delay between attempts; at least `retry_min`.", api.DefaultChannelRetryMax),
		"queue_max_age": duration("Notifications older than this are dropped instead of sent (between `1m` and `30d`).", api.DefaultChannelQueueMaxAge),
		"queue_max_entries": schema.Int64Attribute{Optional: true, Validators: []validator.Int64{int64validator.Between(1, api.MaxChannelQueueEntries)},
			MarkdownDescription: "The most queued notifications; the oldest beyond it are dropped. Defaults to `1000`."},
		// Computed.
		"queue_length":         schema.Int64Attribute{Computed: true, MarkdownDescription: "Notifications waiting to be delivered, at the last read."},
		"oldest_queued_at":     at("When the oldest waiting notification was queued"),
		"firing":               schema.Int64Attribute{Computed: true, MarkdownDescription: "Alerts the channel was told fire and not yet told resolved."},
		"last_attempt_at":      at("The last delivery attempt"),
		"last_delivery_at":     at("The last successful delivery"),
		"last_error":           schema.StringAttribute{Computed: true, MarkdownDescription: "The last failed attempt's error, empty if none."},
		"last_error_at":        at("When it failed"),
		"delivered":            counter("Notifications delivered."),
		"failed":               counter("Failed attempts (each is retried)."),
		"rejected":             counter("Notifications the receiver refused as malformed (not retried)."),
		"dropped":              counter("Notifications dropped past the queue's bounds."),
		"damaged":              counter("Queue files that could not be read, moved aside."),
		"last_heartbeat_at":    at("The last successful heartbeat"),
		"last_heartbeat_error": schema.StringAttribute{Computed: true, MarkdownDescription: "The last heartbeat's error, empty if none."},
		"note":                 observedNote,
	}
}

// channelKind is steward_notification_channel as a managed object.
func channelKind() objectKind[channelModel, api.NotificationChannel, api.NotificationChannelObserved] {
	attrs := channelAttributes()
	toSpec := func(ctx context.Context, m *channelModel) (api.NotificationChannel, diag.Diagnostics) {
		return m.toSpec(ctx)
	}
	known := func(m *channelModel) bool {
		return allKnown(m.Name, m.Type, m.Webhook, m.Alertmanager, m.Email, m.Slack, m.Command, m.RepeatInterval, m.TestOnCreate,
			m.Heartbeat, m.Timeout, m.RetryMin, m.RetryMax, m.QueueMaxAge, m.QueueMaxEntries)
	}
	return objectKind[channelModel, api.NotificationChannel, api.NotificationChannelObserved]{
		api:             api.NotificationChannelKind,
		typeName:        "notification_channel",
		description:     channelDescription,
		nameDescription: "Channel name, as rules' `channels` name it: lower-case letters, digits, `_` and `-`.",
		attributes:      attrs,
		validators: []resource.ConfigValidator{specValidator[channelModel, api.NotificationChannel]{
			noun: "Notification Channel", attrs: attrs, known: known, toSpec: toSpec,
			check: func(c api.NotificationChannel) (error, error) { return c.Validate(), nil },
		}},
		known:  known,
		toSpec: toSpec,
		fromSpec: func(ctx context.Context, m *channelModel, c api.NotificationChannel) diag.Diagnostics {
			return m.fromSpec(ctx, attrs, c)
		},
		observe: (*channelModel).observe,
		configureError: func(ae *api.Error, address string) (diag.Diagnostic, bool) {
			if ae.Code == api.CodeChannelTestFailed {
				return diag.NewAttributeErrorDiagnostic(tfpath.Root("test_on_create"), "Channel Test Failed",
					fmt.Sprintf("On %s, the test notification was not delivered, so the channel was not created: %s. "+
						"Fix the receiver or the channel and apply again; set test_on_create = false to create it without a test.", address, ae.Message)), true
			}
			return specConfigureError("Notification Channel", attrs)(ae, address)
		},
	}
}

// toSpec renders the channel the agent stores.
func (m *channelModel) toSpec(ctx context.Context) (api.NotificationChannel, diag.Diagnostics) {
	var diags diag.Diagnostics
	c := api.NotificationChannel{
		Name: m.Name.ValueString(), Type: m.Type.ValueString(), RepeatInterval: m.RepeatInterval.ValueString(),
		TestOnCreate: m.TestOnCreate.ValueBool(), Timeout: m.Timeout.ValueString(), RetryMin: m.RetryMin.ValueString(),
		RetryMax: m.RetryMax.ValueString(), QueueMaxAge: m.QueueMaxAge.ValueString(), QueueMaxEntries: int(m.QueueMaxEntries.ValueInt64()),
	}
	if w := nestedAs[webhookModel](ctx, m.Webhook, &diags); w != nil {
		c.Webhook = &api.WebhookChannel{URL: w.URL.ValueString(), SecretFile: w.SecretFile.ValueString(),
			AuthorizationFile: w.AuthorizationFile.ValueString(), MaxAlerts: int(w.MaxAlerts.ValueInt64())}
	}
	if a := nestedAs[alertmanagerModel](ctx, m.Alertmanager, &diags); a != nil {
		c.Alertmanager = &api.AlertmanagerChannel{URLs: stringList(ctx, a.URLs, &diags), ResendInterval: a.ResendInterval.ValueString(),
			AuthorizationFile: a.AuthorizationFile.ValueString()}
	}
	if e := nestedAs[emailModel](ctx, m.Email, &diags); e != nil {
		tls := e.TLS.ValueString()
		if e.TLS.IsNull() { // a configuration before defaults
			tls = api.SMTPStartTLS
		}
		c.Email = &api.EmailChannel{Host: e.Host.ValueString(), Port: int(e.Port.ValueInt64()), TLS: tls, From: e.From.ValueString(),
			To: stringList(ctx, e.To, &diags), Username: e.Username.ValueString(), PasswordFile: e.PasswordFile.ValueString(), CAFile: e.CAFile.ValueString()}
	}
	if s := nestedAs[slackModel](ctx, m.Slack, &diags); s != nil {
		c.Slack = &api.SlackChannel{URLFile: s.URLFile.ValueString(), URLSHA256: s.URLSHA256.ValueString()}
	}
	if cm := nestedAs[commandModel](ctx, m.Command, &diags); cm != nil {
		c.Command = &api.CommandChannel{Args: stringList(ctx, cm.Args, &diags)}
	}
	if h := nestedAs[heartbeatModel](ctx, m.Heartbeat, &diags); h != nil {
		c.Heartbeat = &api.ChannelHeartbeat{URL: h.URL.ValueString(), URLFile: h.URLFile.ValueString(), Interval: h.Interval.ValueString(),
			Method: h.Method.ValueString()}
	}
	return c, diags
}

// fromSpec copies the channel the host has into m; a block's optional
// values the host has empty stay as the state has them.
func (m *channelModel) fromSpec(ctx context.Context, attrs map[string]schema.Attribute, c api.NotificationChannel) diag.Diagnostics {
	var diags diag.Diagnostics
	m.Name = types.StringValue(c.Name)
	m.Type = types.StringValue(c.Type)
	var webhook *webhookModel
	if w := c.Webhook; w != nil {
		cur := orZero(nestedAs[webhookModel](ctx, m.Webhook, &diags))
		webhook = &webhookModel{URL: types.StringValue(w.URL), SecretFile: specString(cur.SecretFile, w.SecretFile),
			AuthorizationFile: specString(cur.AuthorizationFile, w.AuthorizationFile), MaxAlerts: specInt(cur.MaxAlerts, w.MaxAlerts)}
	}
	m.Webhook = nestedFrom(ctx, attrs["webhook"], webhook, &diags)
	var am *alertmanagerModel
	if a := c.Alertmanager; a != nil {
		cur := orZero(nestedAs[alertmanagerModel](ctx, m.Alertmanager, &diags))
		am = &alertmanagerModel{URLs: specStringList(ctx, cur.URLs, a.URLs, &diags), ResendInterval: specString(cur.ResendInterval, a.ResendInterval),
			AuthorizationFile: specString(cur.AuthorizationFile, a.AuthorizationFile)}
	}
	m.Alertmanager = nestedFrom(ctx, attrs["alertmanager"], am, &diags)
	var email *emailModel
	if e := c.Email; e != nil {
		cur := orZero(nestedAs[emailModel](ctx, m.Email, &diags))
		email = &emailModel{Host: types.StringValue(e.Host), Port: specInt(cur.Port, e.Port), TLS: types.StringValue(e.TLS),
			From: types.StringValue(e.From), To: specStringList(ctx, cur.To, e.To, &diags), Username: specString(cur.Username, e.Username),
			PasswordFile: specString(cur.PasswordFile, e.PasswordFile), CAFile: specString(cur.CAFile, e.CAFile)}
	}
	m.Email = nestedFrom(ctx, attrs["email"], email, &diags)
	var slack *slackModel
	if s := c.Slack; s != nil {
		cur := orZero(nestedAs[slackModel](ctx, m.Slack, &diags))
		slack = &slackModel{URLFile: types.StringValue(s.URLFile), URLSHA256: specString(cur.URLSHA256, s.URLSHA256)}
	}
	m.Slack = nestedFrom(ctx, attrs["slack"], slack, &diags)
	var command *commandModel
	if cm := c.Command; cm != nil {
		cur := orZero(nestedAs[commandModel](ctx, m.Command, &diags))
		command = &commandModel{Args: specStringList(ctx, cur.Args, cm.Args, &diags)}
	}
	m.Command = nestedFrom(ctx, attrs["command"], command, &diags)
	var heartbeat *heartbeatModel
	if h := c.Heartbeat; h != nil {
		cur := orZero(nestedAs[heartbeatModel](ctx, m.Heartbeat, &diags))
		heartbeat = &heartbeatModel{URL: specString(cur.URL, h.URL), URLFile: specString(cur.URLFile, h.URLFile),
			Interval: specString(cur.Interval, h.Interval), Method: specString(cur.Method, h.Method)}
	}
	m.Heartbeat = nestedFrom(ctx, attrs["heartbeat"], heartbeat, &diags)
	m.RepeatInterval = specString(m.RepeatInterval, c.RepeatInterval)
	m.TestOnCreate = types.BoolValue(c.TestOnCreate)
	m.Timeout = specString(m.Timeout, c.Timeout)
	m.RetryMin = specString(m.RetryMin, c.RetryMin)
	m.RetryMax = specString(m.RetryMax, c.RetryMax)
	m.QueueMaxAge = specString(m.QueueMaxAge, c.QueueMaxAge)
	m.QueueMaxEntries = specInt(m.QueueMaxEntries, c.QueueMaxEntries)
	return diags
}

// orZero is *p, or T's zero value (all null) when p is nil.
func orZero[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// observe sets the channel's queue and delivery state.
func (m *channelModel) observe(st api.ObjectStatus[api.NotificationChannel, api.NotificationChannelObserved], _ time.Time) {
	o := st.Observed
	m.QueueLength = types.Int64Value(int64(o.QueueLength))
	m.OldestQueuedAt = types.StringValue(rfc3339(o.OldestQueuedAt))
	m.Firing = types.Int64Value(int64(o.Firing))
	m.LastAttemptAt = types.StringValue(rfc3339(o.LastAttemptAt))
	m.LastDeliveryAt = types.StringValue(rfc3339(o.LastDeliveryAt))
	m.LastError = types.StringValue(o.LastError)
	m.LastErrorAt = types.StringValue(rfc3339(o.LastErrorAt))
	m.Delivered = types.Int64Value(o.Delivered)
	m.Failed = types.Int64Value(o.Failed)
	m.Rejected = types.Int64Value(o.Rejected)
	m.Dropped = types.Int64Value(o.Dropped)
	m.Damaged = types.Int64Value(o.Damaged)
	m.LastHeartbeatAt = types.StringValue(rfc3339(o.LastHeartbeatAt))
	m.LastHeartbeatError = types.StringValue(o.LastHeartbeatError)
	m.Note = types.StringValue(o.Note)
}
