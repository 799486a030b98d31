# The catalog of a schedule: every snapshot with its chain and verification.
data "steward_backups" "db" {
  host     = steward_host.db.host_connection
  schedule = steward_backup_schedule.db.name
}

output "unverified_snapshots" {
  value = [for s in data.steward_backups.db.snapshots : s.id if s.verified != "ok"]
}
