# Alertmanager's webhook payload to an existing receiver, signed with an HMAC
# key that lives only on the host.
resource "steward_notification_channel" "ops" {
  host = steward_host.web.host_connection
  name = "ops"
  type = "webhook"
  webhook = {
    url         = "https://hooks.example.com/steward"
    secret_file = "/etc/steward/secrets/ops-hmac.key"
  }
  repeat_interval = "4h"
  test_on_create  = true

  # A dead-man's switch: a service outside the host alerts when these stop.
  heartbeat = {
    url      = "https://hc-ping.com/your-check-uuid"
    interval = "1m"
  }
}

# The fleet-wide path: the existing Alertmanager cluster groups and routes.
resource "steward_notification_channel" "alertmanager" {
  host = steward_host.web.host_connection
  name = "alertmanager"
  type = "alertmanager"
  alertmanager = {
    urls = ["http://alertmanager-1:9093", "http://alertmanager-2:9093"]
  }
}

# E-mail with the SMTP password in a file on the host.
resource "steward_notification_channel" "mail" {
  host = steward_host.web.host_connection
  name = "mail"
  type = "email"
  email = {
    host          = "smtp.example.com"
    tls           = "starttls"
    from          = "Steward <alerts@example.com>"
    to            = ["oncall@example.com"]
    username      = "alerts@example.com"
    password_file = "/etc/steward/secrets/smtp.password"
  }
}

# Slack: the webhook URL is a credential, so the host holds it in a file and
# state keeps only its digest.
variable "slack_webhook_url" {
  type      = string
  sensitive = true
}

resource "steward_notification_channel" "slack" {
  host = steward_host.web.host_connection
  name = "slack"
  type = "slack"
  slack = {
    url_file   = "/etc/steward/secrets/slack.url"
    url_sha256 = sha256(var.slack_webhook_url)
  }
}
