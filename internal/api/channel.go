package api

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

// Notification channels (steward_notification_channel): where a host's
// alerts go. A channel's spec is /etc/steward/channels/<name>.json; the
// daemon's notifier keeps a persisted delivery queue per channel under
// /var/lib/steward, so a receiver that is down gets everything once it is
// back, in order.
//
// Secrets never appear in a spec: a password, an HMAC key, an Authorization
// header and a Slack incoming-webhook URL (whose path is its token) are
// files on the host, named here and read at every send. A file's content is
// used as it is, less one trailing newline, so `echo value > file` works;
// it must not be readable or writable by other users (group write and any
// permission for others are refused).

// Notification channel types.
const (
	ChannelWebhook      = "webhook"
	ChannelAlertmanager = "alertmanager"
	ChannelEmail        = "email"
	ChannelSlack        = "slack"
	ChannelCommand      = "command"
)

// ChannelTypes lists the accepted values of NotificationChannel.Type.
var ChannelTypes = []string{ChannelWebhook, ChannelAlertmanager, ChannelEmail, ChannelSlack, ChannelCommand}

// SMTP transport security, EmailChannel.TLS.
const (
	SMTPStartTLS = "starttls" // Plain connection upgraded with STARTTLS, which the server must offer.
	SMTPImplicit = "implicit" // TLS from the first byte (SMTPS, usually port 465).
	SMTPNone     = "none"     // No TLS; accepted for loopback servers only.
)

// SMTPModes lists the accepted values of EmailChannel.TLS.
var SMTPModes = []string{SMTPStartTLS, SMTPImplicit, SMTPNone}

// Channel defaults: what an empty field means.
const (
	DefaultChannelTimeout         = "10s"
	DefaultChannelRetryMin        = "1s"
	DefaultChannelRetryMax        = "5m"
	DefaultChannelQueueMaxAge     = "24h"
	DefaultChannelQueueMaxEntries = 1000
	DefaultAlertmanagerResend     = "1m" // Prometheus's --rules.alert.resend-delay.
	DefaultHeartbeatInterval      = "1m"
	DefaultHeartbeatMethod        = "GET"
	DefaultSMTPStartTLSPort       = 587
	DefaultSMTPImplicitPort       = 465
	DefaultSMTPNonePort           = 25
)

// Channel limits.
const (
	MaxChannelQueueEntries = 100000
	MaxChannelCommandArgs  = 64
)

// Headers of the HTTP requests of webhook channels.
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
	// request body, keyed with the content of webhook.secret_file.
	SignatureHeader = "X-Steward-Signature"
	// DeliveryIDHeader is the same on every attempt at one queued
	// notification, so a receiver can drop a repeat of a request whose
	// answer was lost.
	DeliveryIDHeader = "X-Steward-Delivery"
)

const (
	secretFileAdvice      = "a clean absolute path on the host (a file of mode 0600 or 0640, owned by root)"
	channelURLAdvice      = "an http:// or https:// URL with a host, no user:password@ (put credentials in authorization_file) and no #fragment"
	alertmanagerURLAdvice = "base URLs such as \"http://alertmanager:9093\" (Steward appends /api/v2/alerts)"
)

// NotificationChannel is /etc/steward/channels/<name>.json. Type says which
// of the type blocks is set; exactly that one is.
type NotificationChannel struct {
	Name string `json:"name"`
	Type string `json:"type"` // One of ChannelTypes.

	Webhook      *WebhookChannel      `json:"webhook,omitempty"`
	Alertmanager *AlertmanagerChannel `json:"alertmanager,omitempty"`
	Email        *EmailChannel        `json:"email,omitempty"`
	Slack        *SlackChannel        `json:"slack,omitempty"`
	Command      *CommandChannel      `json:"command,omitempty"`

	// RepeatInterval is how long an alert that still fires waits after the
	// last notification that carried it before the channel sends it again;
	// empty means the channel does not repeat on its own (the rule's
	// repeat_interval still does; whichever is due first repeats). Not for
	// alertmanager channels: Alertmanager repeats by its own route.
	RepeatInterval string `json:"repeat_interval,omitempty"`
	// TestOnCreate sends a test notification when the channel is created,
	// and fails the create when it does not arrive.
	TestOnCreate bool `json:"test_on_create,omitempty"`
	// Heartbeat is the channel's dead-man's switch.
	Heartbeat *ChannelHeartbeat `json:"heartbeat,omitempty"`

	// Timeout bounds one delivery attempt: one HTTP request (to each URL),
	// one SMTP session, one run of the command.
	Timeout string `json:"timeout,omitempty"`
	// RetryMin and RetryMax bound the delay between failed attempts, which
	// doubles from RetryMin up to RetryMax, each with up to half of it as
	// random jitter.
	RetryMin string `json:"retry_min,omitempty"`
	RetryMax string `json:"retry_max,omitempty"`
	// QueueMaxAge and QueueMaxEntries bound the delivery queue: older
	// notifications, and the oldest beyond the count, are dropped (counted
	// and logged) instead of sent.
	QueueMaxAge     string `json:"queue_max_age,omitempty"`
	QueueMaxEntries int    `json:"queue_max_entries,omitempty"`
}

// WebhookChannel posts Alertmanager's webhook payload (version 4), so that
// receivers written for Alertmanager work unchanged.
type WebhookChannel struct {
	URL string `json:"url"`
	// SecretFile holds the HMAC key: each request then carries
	// SignatureHeader: sha256=<hex HMAC-SHA256 of the request body>.
	SecretFile string `json:"secret_file,omitempty"`
	// AuthorizationFile holds the value of an Authorization header
	// ("Bearer …", "Basic …").
	AuthorizationFile string `json:"authorization_file,omitempty"`
	// MaxAlerts caps the alerts in one payload (0: all); the payload's
	// truncatedAlerts says how many were left out, as in Alertmanager.
	MaxAlerts int `json:"max_alerts,omitempty"`
}

// AlertmanagerChannel posts alerts to Alertmanager's /api/v2/alerts on
// every URL (the members of one cluster, which share what they get).
// A notification counts as delivered when at least one member accepted
// it; firing alerts are re-sent every ResendInterval to every member, as
// Prometheus does.
type AlertmanagerChannel struct {
	URLs              []string `json:"urls"`
	ResendInterval    string   `json:"resend_interval,omitempty"`
	AuthorizationFile string   `json:"authorization_file,omitempty"`
}

// EmailChannel sends a plain-text e-mail over SMTP.
type EmailChannel struct {
	Host string   `json:"host"`
	Port int      `json:"port,omitempty"` // 0: 587 for starttls, 465 for implicit, 25 for none.
	TLS  string   `json:"tls"`            // One of SMTPModes.
	From string   `json:"from"`
	To   []string `json:"to"`
	// Username and PasswordFile authenticate (AUTH PLAIN, or LOGIN when the
	// server offers only that); both or neither.
	Username     string `json:"username,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`
	// CAFile pins the CA certificates (PEM) the server's certificate must
	// chain to, instead of the host's trust store.
	CAFile string `json:"ca_file,omitempty"`
}

// SlackChannel posts Slack's incoming-webhook message (text and
// attachments), which Mattermost, Rocket.Chat and others also accept. The
// webhook URL is its own credential, so the spec never holds it: URLFile
// names the file on the host that does. URLSHA256, when set, is the hex
// SHA-256 of that URL (the file's content less one trailing newline): the
// agent refuses to send to a URL with another digest, and reports the
// mismatch, so an edit on the host shows and is never used unreviewed.
type SlackChannel struct {
	URLFile   string `json:"url_file"`
	URLSHA256 string `json:"url_sha256,omitempty"`
}

// CommandChannel runs a program (no shell) with the api.Notification JSON
// on stdin; exit status 0 means delivered. Args[0] is an absolute path.
type CommandChannel struct {
	Args []string `json:"args"`
}

// ChannelHeartbeat is a dead-man's switch: every Interval, while the
// daemon's alerting works, the agent requests URL ("still alive"), so a
// service outside the host (healthchecks.io, Dead Man's Snitch, a
// Prometheus blackbox check, an Alertmanager Watchdog receiver) alerts when
// the requests stop. Either URL or URLFile (for a URL that is itself a
// token) is set.
type ChannelHeartbeat struct {
	URL      string `json:"url,omitempty"`
	URLFile  string `json:"url_file,omitempty"`
	Interval string `json:"interval,omitempty"`
	Method   string `json:"method,omitempty"` // GET (default) or POST (a small JSON body naming the host).
}

// NotificationChannelKind is the managed-object kind of
// steward_notification_channel: notification_channel.configure, .remove and
// .status, and the files /etc/steward/channels/<name>.json.
var NotificationChannelKind = Kind[NotificationChannel, NotificationChannelObserved]{Name: "notification_channel", Dir: "channels"}

// CodeChannelTestFailed means a channel's test send (test_on_create) did
// not arrive; the message carries the receiver's answer or the error.
const CodeChannelTestFailed = "channel_test_failed"

// NotificationChannelObserved is what the notifier reports of a channel.
type NotificationChannelObserved struct {
	QueueLength    int       `json:"queue_length"`
	OldestQueuedAt time.Time `json:"oldest_queued_at,omitzero"`
	// Firing counts the alerts the channel was told fire and not yet told
	// resolved: those it repeats (and Alertmanager channels re-send).
	Firing         int       `json:"firing"`
	LastAttemptAt  time.Time `json:"last_attempt_at,omitzero"`
	LastDeliveryAt time.Time `json:"last_delivery_at,omitzero"`
	LastError      string    `json:"last_error,omitempty"`
	LastErrorAt    time.Time `json:"last_error_at,omitzero"`
	// Counters since the state directory was created.
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`   // Failed attempts (each is retried).
	Rejected  int64 `json:"rejected"` // Notifications the receiver refused as malformed (not retried).
	Dropped   int64 `json:"dropped"`  // Notifications dropped past the queue's bounds.
	Damaged   int64 `json:"damaged"`  // Queue files that could not be read, moved aside.

	LastHeartbeatAt    time.Time `json:"last_heartbeat_at,omitzero"`
	LastHeartbeatError string    `json:"last_heartbeat_error,omitempty"`
	// Note says why the rest is empty when the daemon could not be asked
	// (it is down) or does not have the channel loaded.
	Note string `json:"note,omitempty"`
}

// ObjectName is the channel's name.
func (c NotificationChannel) ObjectName() string { return c.Name }

// WithDefaults returns c with its empty durations and bounds set to the
// defaults.
func (c NotificationChannel) WithDefaults() NotificationChannel {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&c.Timeout, DefaultChannelTimeout)
	def(&c.RetryMin, DefaultChannelRetryMin)
	def(&c.RetryMax, DefaultChannelRetryMax)
	def(&c.QueueMaxAge, DefaultChannelQueueMaxAge)
	if c.QueueMaxEntries == 0 {
		c.QueueMaxEntries = DefaultChannelQueueMaxEntries
	}
	if c.Alertmanager != nil {
		am := *c.Alertmanager
		def(&am.ResendInterval, DefaultAlertmanagerResend)
		c.Alertmanager = &am
	}
	if c.Email != nil && c.Email.Port == 0 {
		e := *c.Email
		e.Port = map[string]int{SMTPStartTLS: DefaultSMTPStartTLSPort, SMTPImplicit: DefaultSMTPImplicitPort, SMTPNone: DefaultSMTPNonePort}[e.TLS]
		c.Email = &e
	}
	if c.Heartbeat != nil {
		h := *c.Heartbeat
		def(&h.Interval, DefaultHeartbeatInterval)
		def(&h.Method, DefaultHeartbeatMethod)
		c.Heartbeat = &h
	}
	return c
}

// durationRule is one duration attribute and the range it accepts.
type durationRule struct {
	attr     string
	value    string
	min, max time.Duration
}

func (r durationRule) check() (time.Duration, error) {
	if r.value == "" {
		return 0, nil
	}
	d, err := ParseDuration(r.value)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.attr, err)
	}
	if d < r.min || d > r.max {
		return 0, fmt.Errorf("%s %q: want between %s and %s", r.attr, r.value, shortDuration(r.min), shortDuration(r.max))
	}
	return d, nil
}

// shortDuration prints 24h as "24h", not "24h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Validate checks every attribute, naming it and saying what is accepted.
func (c NotificationChannel) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(ValidateObjectName(c.Name))
	blocks := map[string]bool{
		ChannelWebhook: c.Webhook != nil, ChannelAlertmanager: c.Alertmanager != nil, ChannelEmail: c.Email != nil,
		ChannelSlack: c.Slack != nil, ChannelCommand: c.Command != nil,
	}
	if _, ok := blocks[c.Type]; !ok {
		add(fmt.Errorf("type %q: want one of %s", c.Type, strings.Join(ChannelTypes, ", ")))
	} else if !blocks[c.Type] {
		add(fmt.Errorf("%s: a channel of type %q needs its %s block", c.Type, c.Type, c.Type))
	}
	for _, t := range ChannelTypes {
		if blocks[t] && t != c.Type {
			add(fmt.Errorf("%s: a block for type %q in a channel of type %q; set only the block of the channel's type", t, t, c.Type))
		}
	}
	switch {
	case c.Webhook != nil && c.Type == ChannelWebhook:
		add(c.Webhook.validate())
	case c.Alertmanager != nil && c.Type == ChannelAlertmanager:
		add(c.Alertmanager.validate())
	case c.Email != nil && c.Type == ChannelEmail:
		add(c.Email.validate())
	case c.Slack != nil && c.Type == ChannelSlack:
		add(c.Slack.validate())
	case c.Command != nil && c.Type == ChannelCommand:
		add(c.Command.validate())
	}
	if c.Type == ChannelAlertmanager && c.RepeatInterval != "" {
		add(errors.New("repeat_interval: not for alertmanager channels, where Alertmanager's route repeats (its repeat_interval); Steward re-sends firing alerts every alertmanager.resend_interval"))
	}
	if c.Heartbeat != nil {
		add(c.Heartbeat.validate())
	}
	_, err := durationRule{"repeat_interval", c.RepeatInterval, time.Minute, 30 * 24 * time.Hour}.check()
	add(err)
	_, err = durationRule{"timeout", c.Timeout, time.Second, 5 * time.Minute}.check()
	add(err)
	rmin, err := durationRule{"retry_min", c.RetryMin, 100 * time.Millisecond, time.Hour}.check()
	add(err)
	rmax, err := durationRule{"retry_max", c.RetryMax, time.Second, 24 * time.Hour}.check()
	add(err)
	if err == nil {
		if rmin == 0 {
			rmin, _ = ParseDuration(DefaultChannelRetryMin)
		}
		if rmax == 0 {
			rmax, _ = ParseDuration(DefaultChannelRetryMax)
		}
		if rmax < rmin {
			add(fmt.Errorf("retry_max %s is shorter than retry_min %s: want retry_max at least retry_min", shortDuration(rmax), shortDuration(rmin)))
		}
	}
	_, err = durationRule{"queue_max_age", c.QueueMaxAge, time.Minute, 30 * 24 * time.Hour}.check()
	add(err)
	if c.QueueMaxEntries < 0 || c.QueueMaxEntries > MaxChannelQueueEntries {
		add(fmt.Errorf("queue_max_entries %d: want between 1 and %d (0 for the default, %d)", c.QueueMaxEntries, MaxChannelQueueEntries, DefaultChannelQueueMaxEntries))
	}
	return errors.Join(errs...)
}

func (w WebhookChannel) validate() error {
	var errs []error
	if err := checkChannelURL("webhook.url", w.URL); err != nil {
		errs = append(errs, err)
	}
	for attr, f := range map[string]string{"webhook.secret_file": w.SecretFile, "webhook.authorization_file": w.AuthorizationFile} {
		if err := checkHostFile(attr, f, false); err != nil {
			errs = append(errs, err)
		}
	}
	if w.MaxAlerts < 0 {
		errs = append(errs, fmt.Errorf("webhook.max_alerts %d: want 0 (all) or more", w.MaxAlerts))
	}
	return errors.Join(errs...)
}

func (a AlertmanagerChannel) validate() error {
	var errs []error
	if len(a.URLs) == 0 {
		errs = append(errs, fmt.Errorf("alertmanager.urls: want at least one of %s", alertmanagerURLAdvice))
	}
	seen := map[string]bool{}
	for i, u := range a.URLs {
		attr := fmt.Sprintf("alertmanager.urls[%d]", i)
		if err := checkChannelURL(attr, u); err != nil {
			errs = append(errs, err)
			continue
		}
		if p, _ := url.Parse(u); p.RawQuery != "" || strings.HasSuffix(strings.TrimSuffix(p.Path, "/"), "/api/v2/alerts") {
			errs = append(errs, fmt.Errorf("%s %s: want %s, without a query", attr, RedactURL(u), alertmanagerURLAdvice))
		}
		if seen[u] {
			errs = append(errs, fmt.Errorf("%s %s: listed twice", attr, RedactURL(u)))
		}
		seen[u] = true
	}
	if _, err := (durationRule{"alertmanager.resend_interval", a.ResendInterval, 10 * time.Second, time.Hour}).check(); err != nil {
		errs = append(errs, err)
	}
	if err := checkHostFile("alertmanager.authorization_file", a.AuthorizationFile, false); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// hostnamePattern is a DNS name (RFC 1123 labels).
var hostnamePattern = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)

func (e EmailChannel) validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if net.ParseIP(e.Host) == nil && (len(e.Host) > 253 || !hostnamePattern.MatchString(e.Host)) {
		add("email.host %q: want the SMTP server's DNS name or IP address", e.Host)
	}
	if e.Port < 0 || e.Port > 65535 {
		add("email.port %d: want 1 to 65535 (0: 587 for starttls, 465 for implicit, 25 for none)", e.Port)
	}
	switch e.TLS {
	case SMTPStartTLS, SMTPImplicit:
	case SMTPNone:
		if !isLoopbackHost(e.Host) {
			add("email.tls \"none\" with email.host %q: a connection without TLS is accepted only to a loopback server (127.0.0.0/8, ::1, localhost), since the password and the alerts would cross the network in clear; want \"starttls\" or \"implicit\"", e.Host)
		}
	default:
		add("email.tls %q: want one of %s", e.TLS, strings.Join(SMTPModes, ", "))
	}
	if err := checkMailbox("email.from", e.From); err != nil {
		errs = append(errs, err)
	}
	if len(e.To) == 0 {
		add("email.to: want at least one recipient address")
	}
	for i, to := range e.To {
		if err := checkMailbox(fmt.Sprintf("email.to[%d]", i), to); err != nil {
			errs = append(errs, err)
		}
	}
	if (e.Username == "") != (e.PasswordFile == "") {
		add("email.username and email.password_file: set both (to authenticate) or neither")
	}
	if strings.ContainsAny(e.Username, "\r\n\x00") {
		add("email.username: want no line breaks or NUL")
	}
	for attr, f := range map[string]string{"email.password_file": e.PasswordFile, "email.ca_file": e.CAFile} {
		if err := checkHostFile(attr, f, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkMailbox accepts one bare address or "Name <address>", nothing that
// could add a header.
func checkMailbox(attr, s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || strings.ContainsAny(s, "\r\n") || !strings.Contains(a.Address, "@") {
		return fmt.Errorf("%s %q: want one e-mail address, such as \"alerts@example.com\" or \"Alerts <alerts@example.com>\"", attr, s)
	}
	return nil
}

var sha256HexPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (s SlackChannel) validate() error {
	var errs []error
	if err := checkHostFile("slack.url_file", s.URLFile, true); err != nil {
		errs = append(errs, err)
	}
	if s.URLSHA256 != "" && !sha256HexPattern.MatchString(s.URLSHA256) {
		errs = append(errs, errors.New("slack.url_sha256: want 64 lower-case hex digits, the SHA-256 of the incoming-webhook URL"))
	}
	return errors.Join(errs...)
}

func (c CommandChannel) validate() error {
	if len(c.Args) == 0 || len(c.Args) > MaxChannelCommandArgs {
		return fmt.Errorf("command.args: want the program's absolute path and up to %d arguments", MaxChannelCommandArgs-1)
	}
	if p := c.Args[0]; !path.IsAbs(p) || path.Clean(p) != p {
		return fmt.Errorf("command.args[0] %q: want the program's clean absolute path (it runs without a shell and without a PATH search)", p)
	}
	for i, a := range c.Args {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("command.args[%d]: want no NUL byte", i)
		}
	}
	return nil
}

func (h ChannelHeartbeat) validate() error {
	var errs []error
	switch {
	case (h.URL == "") == (h.URLFile == ""):
		errs = append(errs, errors.New("heartbeat: set url or url_file (for a URL that is a token), exactly one"))
	case h.URL != "":
		if err := checkChannelURL("heartbeat.url", h.URL); err != nil {
			errs = append(errs, err)
		}
	default:
		if err := checkHostFile("heartbeat.url_file", h.URLFile, true); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := (durationRule{"heartbeat.interval", h.Interval, 10 * time.Second, 24 * time.Hour}).check(); err != nil {
		errs = append(errs, err)
	}
	if h.Method != "" && h.Method != "GET" && h.Method != "POST" {
		errs = append(errs, fmt.Errorf("heartbeat.method %q: want GET or POST", h.Method))
	}
	return errors.Join(errs...)
}

// checkChannelURL checks a receiver URL given in a spec. The message shows
// it redacted, since a receiver's path or query may hold a token.
func checkChannelURL(attr, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" ||
		u.User != nil || u.Fragment != "" || strings.ContainsAny(raw, " \r\n\t\x00") {
		return fmt.Errorf("%s %s: want %s", attr, RedactURL(raw), channelURLAdvice)
	}
	return nil
}

// checkHostFile checks the path of a file on the host; an empty one is
// accepted unless required.
func checkHostFile(attr, p string, required bool) error {
	if p == "" && !required {
		return nil
	}
	if !path.IsAbs(p) || path.Clean(p) != p || strings.ContainsAny(p, "\r\n\x00") {
		return fmt.Errorf("%s %q: want %s", attr, p, secretFileAdvice)
	}
	return nil
}

// isLoopbackHost reports whether host names this machine.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RedactURL shows a receiver URL for logs, errors and plans without what
// may be a credential: scheme, host and port stay; a path, query or
// user:password is replaced by "…". Slack's hooks/T…/B…/secret, a
// healthchecks.io UUID and ?token=… all hide this way.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "<URL not shown>"
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil {
		out = u.Scheme + "://…@" + u.Host
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		out += "/…"
	}
	return out
}
