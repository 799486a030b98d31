package api

import (
	"strings"
	"testing"
)

func TestNotificationChannel_Validate(t *testing.T) {
	t.Parallel()
	webhook := func(url string) NotificationChannel {
		return NotificationChannel{Name: "ops", Type: ChannelWebhook, Webhook: &WebhookChannel{URL: url}}
	}
	email := func(mut func(*EmailChannel)) NotificationChannel {
		e := &EmailChannel{Host: "smtp.example.com", TLS: SMTPStartTLS, From: "steward@example.com", To: []string{"ops@example.com"},
			Username: "steward", PasswordFile: "/etc/steward/secrets/smtp"}
		if mut != nil {
			mut(e)
		}
		return NotificationChannel{Name: "mail", Type: ChannelEmail, Email: e}
	}
	with := func(c NotificationChannel, mut func(*NotificationChannel)) NotificationChannel {
		mut(&c)
		return c
	}
	tests := []struct {
		name    string
		spec    NotificationChannel
		wantErr []string // substrings; none means valid
	}{
		{name: "webhook", spec: webhook("https://hooks.example.com/steward")},
		{name: "webhook with everything", spec: with(webhook("http://10.0.0.5:5001/"), func(c *NotificationChannel) {
			c.Webhook.SecretFile, c.Webhook.MaxAlerts = "/etc/steward/secrets/hmac", 10
			c.RepeatInterval, c.Timeout, c.RetryMin, c.RetryMax, c.QueueMaxAge, c.QueueMaxEntries = "1h", "30s", "2s", "10m", "7d", 50
			c.Heartbeat = &ChannelHeartbeat{URLFile: "/etc/steward/secrets/hc", Interval: "30s", Method: "POST"}
		})},
		{name: "alertmanager", spec: NotificationChannel{Name: "am", Type: ChannelAlertmanager,
			Alertmanager: &AlertmanagerChannel{URLs: []string{"http://am1:9093", "http://am2:9093/alertmanager"}, ResendInterval: "30s"}}},
		{name: "email", spec: email(nil)},
		{name: "email without TLS to loopback", spec: email(func(e *EmailChannel) { e.Host, e.TLS = "127.0.0.1", SMTPNone })},
		{name: "slack", spec: NotificationChannel{Name: "chat", Type: ChannelSlack,
			Slack: &SlackChannel{URLFile: "/etc/steward/secrets/slack", URLSHA256: strings.Repeat("ab", 32)}}},
		{name: "command", spec: NotificationChannel{Name: "pager", Type: ChannelCommand, Command: &CommandChannel{Args: []string{"/usr/local/bin/page", "--urgent"}}}},

		{name: "bad name", spec: with(webhook("https://x.example.com/"), func(c *NotificationChannel) { c.Name = "../etc" }), wantErr: []string{`name "../etc"`}},
		{name: "unknown type", spec: NotificationChannel{Name: "x", Type: "pager"}, wantErr: []string{`type "pager": want one of webhook, alertmanager, email, slack, command`}},
		{name: "missing block", spec: NotificationChannel{Name: "x", Type: ChannelSlack}, wantErr: []string{"needs its slack block"}},
		{name: "second block", spec: with(webhook("https://x.example.com/"), func(c *NotificationChannel) { c.Command = &CommandChannel{Args: []string{"/bin/true"}} }),
			wantErr: []string{`command: a block for type "command" in a channel of type "webhook"`}},
		{name: "URL with a token is not echoed", spec: webhook("ftp://hooks.example.com/T000/B000/supersecret"),
			wantErr: []string{"webhook.url ftp://hooks.example.com/…: want an http:// or https:// URL"}},
		{name: "URL with a password", spec: webhook("https://user:pw@hooks.example.com/x"), wantErr: []string{"no user:password@"}},
		{name: "alertmanager API path", spec: NotificationChannel{Name: "am", Type: ChannelAlertmanager,
			Alertmanager: &AlertmanagerChannel{URLs: []string{"http://am:9093/api/v2/alerts"}}}, wantErr: []string{"alertmanager.urls[0]", "appends /api/v2/alerts"}},
		{name: "alertmanager without URLs", spec: NotificationChannel{Name: "am", Type: ChannelAlertmanager, Alertmanager: &AlertmanagerChannel{}},
			wantErr: []string{"alertmanager.urls: want at least one"}},
		{name: "alertmanager repeat", spec: NotificationChannel{Name: "am", Type: ChannelAlertmanager, RepeatInterval: "1h",
			Alertmanager: &AlertmanagerChannel{URLs: []string{"http://am:9093"}}}, wantErr: []string{"repeat_interval: not for alertmanager channels"}},
		{name: "email in clear across the network", spec: email(func(e *EmailChannel) { e.TLS = SMTPNone }),
			wantErr: []string{`email.tls "none" with email.host "smtp.example.com"`, "only to a loopback server"}},
		{name: "email tls mode", spec: email(func(e *EmailChannel) { e.TLS = "ssl" }), wantErr: []string{`email.tls "ssl": want one of starttls, implicit, none`}},
		{name: "email header injection", spec: email(func(e *EmailChannel) { e.To = []string{"a@example.com\r\nBcc: x@evil.example"} }),
			wantErr: []string{"email.to[0]", "want one e-mail address"}},
		{name: "email password without user", spec: email(func(e *EmailChannel) { e.Username = "" }), wantErr: []string{"set both"}},
		{name: "email relative password file", spec: email(func(e *EmailChannel) { e.PasswordFile = "smtp.pw" }),
			wantErr: []string{`email.password_file "smtp.pw": want a clean absolute path`}},
		{name: "slack needs a file", spec: NotificationChannel{Name: "chat", Type: ChannelSlack, Slack: &SlackChannel{URLSHA256: "abc"}},
			wantErr: []string{`slack.url_file ""`, "slack.url_sha256: want 64 lower-case hex digits"}},
		{name: "command through PATH", spec: NotificationChannel{Name: "pager", Type: ChannelCommand, Command: &CommandChannel{Args: []string{"page"}}},
			wantErr: []string{`command.args[0] "page": want the program's clean absolute path`}},
		{name: "durations", spec: with(webhook("https://x.example.com/"), func(c *NotificationChannel) {
			c.Timeout, c.RetryMin, c.RetryMax, c.QueueMaxAge, c.QueueMaxEntries = "0.5s", "10m", "1m", "forever", 1000000
		}), wantErr: []string{`timeout "0.5s": want between 1s and 5m`, "retry_max 1m is shorter than retry_min 10m",
			`queue_max_age: duration "forever"`, "queue_max_entries 1000000: want between 1 and 100000"}},
		{name: "heartbeat needs one URL", spec: with(webhook("https://x.example.com/"), func(c *NotificationChannel) {
			c.Heartbeat = &ChannelHeartbeat{URL: "https://hc.example.com/ping/x", URLFile: "/etc/hc", Method: "PUT"}
		}), wantErr: []string{"heartbeat: set url or url_file", `heartbeat.method "PUT": want GET or POST`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.spec.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if err := tt.spec.WithDefaults().Validate(); err != nil {
					t.Fatalf("Validate with defaults: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted it; want %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "supersecret") || strings.Contains(err.Error(), ":pw@") {
				t.Errorf("error %q shows a credential", err)
			}
		})
	}
}

func TestNotificationChannel_WithDefaults(t *testing.T) {
	t.Parallel()
	c := NotificationChannel{Name: "mail", Type: ChannelEmail, Email: &EmailChannel{TLS: SMTPImplicit},
		Heartbeat: &ChannelHeartbeat{URL: "https://hc.example.com/x"}}.WithDefaults()
	if c.Email.Port != 465 || c.RepeatInterval != "" || c.Timeout != "10s" || c.QueueMaxEntries != 1000 ||
		c.Heartbeat.Interval != "1m" || c.Heartbeat.Method != "GET" {
		t.Errorf("defaults: %+v, email %+v, heartbeat %+v", c, c.Email, c.Heartbeat)
	}
	am := NotificationChannel{Name: "am", Type: ChannelAlertmanager, Alertmanager: &AlertmanagerChannel{URLs: []string{"http://am:9093"}}}
	if d := am.WithDefaults(); d.RepeatInterval != "" || d.Alertmanager.ResendInterval != "1m" || am.Alertmanager.ResendInterval != "" {
		t.Errorf("alertmanager defaults %+v (the original must not change)", d.Alertmanager)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T000/B000/XXXX": "https://hooks.slack.com/…",
		"http://am:9093":                      "http://am:9093",
		"http://am:9093/":                     "http://am:9093",
		"https://x.example.com/?token=abc":    "https://x.example.com/…",
		"https://u:p@x.example.com":           "https://…@x.example.com",
		"not a url":                           "<URL not shown>",
		"https://hc-ping.com/6f1c2a44-uuid-1": "https://hc-ping.com/…",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q; want %q", in, got, want)
		}
	}
}
