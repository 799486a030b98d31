# What the disk-full rule did over the last day, and whether its
# notifications arrived.
data "steward_alert_history" "disk" {
  host  = steward_host.web.host_connection
  rule  = steward_alert_rule.disk_full.name
  since = timeadd(plantimestamp(), "-24h")
}

output "disk_full_transitions" {
  value = [for t in data.steward_alert_history.disk.transitions : "${t.time} ${t.from} -> ${t.to} (${t.value})"]
}

check "notifications_delivered" {
  assert {
    condition     = alltrue([for d in data.steward_alert_history.disk.deliveries : d.result != "dropped"])
    error_message = "a disk-full notification was dropped past its channel's queue bounds"
  }
}
