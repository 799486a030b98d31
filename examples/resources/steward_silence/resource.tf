# A weekly maintenance window: Sundays 02:00-04:00, host time.
resource "steward_silence" "sunday_maintenance" {
  host     = steward_host.web.host_connection
  name     = "sunday-maintenance"
  matchers = [{ label = "alertname", op = "=~", value = ".+" }]
  schedule = "0 2 * * 0"
  duration = "2h"
  comment  = "Weekly maintenance window (CHG-1234): reboots and package upgrades."

  notify_channels = [steward_notification_channel.ops.name]
}

# A one-off window while the disks are swapped.
resource "steward_silence" "disk_swap" {
  host      = steward_host.web.host_connection
  name      = "disk-swap"
  matchers  = [{ label = "alertname", value = steward_alert_rule.disk_full.name }]
  starts_at = "2026-03-01T22:00:00Z"
  ends_at   = "2026-03-01T23:30:00Z"
  comment   = "Replacing the data disks (OPS-567)."
}
