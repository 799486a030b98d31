package provider

import "testing"

// channelConfig is a channel on a host no test reaches (plan-time only).
func channelConfig(body string) string {
	return providerBlock("") + "resource \"steward_notification_channel\" \"c\" {\n  host = { host = \"192.0.2.1\", trust_on_first_use = true }\n  name = \"ops\"\n" + body + "}\n"
}

// nested wants an error with the message msg: Terraform shows the block
// of an attribute inside an object value, and the message names it.
func nested(msg string) string { return `(?s)Error: Invalid.*` + wrapped(msg) }

// TestNotificationChannel_invalidConfig: a channel the agent would refuse
// fails at plan time, naming the attribute and what it accepts.
func TestNotificationChannel_invalidConfig(t *testing.T) {
	requireTerraform(t)
	cases := []struct{ name, body, want string }{
		{"type", "  type = \"pager\"\n", blamedAt("type", `value must be one of`)},
		{"block missing", "  type = \"webhook\"\n", `(?s)Invalid Notification Channel.*needs its webhook block`},
		{"other block", "  type = \"webhook\"\n  webhook = { url = \"http://10.0.0.1/hook\" }\n  command = { args = [\"/bin/true\"] }\n",
			blamedAt("command", `set only the block of the channel's type`)},
		{"webhook url", "  type = \"webhook\"\n  webhook = { url = \"ftp://10.0.0.1/hook\" }\n", nested(`webhook.url ftp://10.0.0.1/…: want an http:// or https:// URL`)},
		{"secret file relative", "  type = \"webhook\"\n  webhook = { url = \"http://10.0.0.1/hook\", secret_file = \"hmac.key\" }\n",
			nested(`webhook.secret_file "hmac.key": want a clean absolute path on the host`)},
		{"email without tls to a remote server", "  type = \"email\"\n  email = { host = \"smtp.example.com\", tls = \"none\", from = \"a@example.com\", to = [\"b@example.com\"] }\n",
			nested(`email.tls "none" with email.host "smtp.example.com": a connection without TLS is accepted only to a loopback server`)},
		{"email password without user", "  type = \"email\"\n  email = { host = \"smtp.example.com\", from = \"a@example.com\", to = [\"b@example.com\"], password_file = \"/etc/steward/smtp.pw\" }\n",
			nested(`email.username and email.password_file: set both`)},
		{"alertmanager path", "  type = \"alertmanager\"\n  alertmanager = { urls = [\"http://am:9093/api/v2/alerts\"] }\n",
			nested(`alertmanager.urls\[0\].*Steward appends /api/v2/alerts`)},
		{"alertmanager repeat", "  type = \"alertmanager\"\n  alertmanager = { urls = [\"http://am:9093\"] }\n  repeat_interval = \"1h\"\n",
			blamedAt("repeat_interval", `not for alertmanager channels`)},
		{"retry order", "  type = \"command\"\n  command = { args = [\"/usr/local/bin/page\"] }\n  retry_min = \"10m\"\n  retry_max = \"1m\"\n",
			blamedAt("retry_max", `is shorter than retry_min`)},
		{"command relative", "  type = \"command\"\n  command = { args = [\"page\"] }\n", nested(`command.args\[0\] "page": want the program's clean absolute path`)},
		{"slack digest", "  type = \"slack\"\n  slack = { url_file = \"/etc/steward/slack.url\", url_sha256 = \"abc\" }\n",
			nested(`slack.url_sha256 must be 64 lower-case hex digits`)},
		{"timeout", "  type = \"command\"\n  command = { args = [\"/usr/local/bin/page\"] }\n  timeout = \"10m\"\n", blamedAt("timeout", `want between 1s and 5m`)},
		{"heartbeat", "  type = \"command\"\n  command = { args = [\"/usr/local/bin/page\"] }\n  heartbeat = { interval = \"1m\" }\n",
			blamedAt("heartbeat", `set url or url_file`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			expectPlanError(t, channelConfig(tc.body), tc.want)
		})
	}
	expectValid(t, channelConfig("  type = \"email\"\n  email = { host = \"smtp.example.com\", from = \"a@example.com\", to = [\"b@example.com\"] }\n"))
}
