# Page when a file system has had less than 2 GiB free for 5 minutes; clear
# only once it is back over 3 GiB, so a value hovering at the threshold does
# not flap.
resource "steward_alert_rule" "disk_full" {
  host = steward_host.web.host_connection
  name = "disk-full"

  metric      = "node_filesystem_avail_bytes"
  matchers    = [{ label = "mountpoint", op = "=~", value = "/|/srv.*" }]
  aggregation = "avg"
  window      = "2m"
  op          = "<"
  threshold   = 2147483648 # 2 GiB

  resolve_threshold = 3221225472 # 3 GiB
  for               = "5m"
  clear_for         = "2m"

  severity        = "critical"
  channels        = [steward_notification_channel.ops.name]
  repeat_interval = "4h"
  annotations = {
    summary = "{{ .Labels.mountpoint }} has {{ humanizeBytes .Value }} free"
  }
}

# A built-in kind: the nightly backup did not succeed for 26 hours.
resource "steward_alert_rule" "backup_stale" {
  host     = steward_host.web.host_connection
  name     = "backup-stale"
  kind     = "backup_stale"
  schedule = steward_backup_schedule.etc.name
  max_age  = "26h"
  severity = "warning"
  channels = [steward_notification_channel.ops.name]
}

# Another built-in kind, muted while Steward itself restarts things.
resource "steward_alert_rule" "nginx_failed" {
  host                = steward_host.web.host_connection
  name                = "nginx-failed"
  kind                = "unit_failed"
  unit                = "nginx.service"
  severity            = "critical"
  channels            = [steward_notification_channel.ops.name]
  mute_during_changes = true
}
