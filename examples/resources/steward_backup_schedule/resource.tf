# Back up /etc and a PostgreSQL dump every night to a backup host mounted over
# NFS at /mnt/backup. The host encrypts to the operators' public keys only: it
# can write its backups but not read them.
resource "steward_backup_schedule" "db" {
  host = steward_host.db.host_connection
  name = "etc-and-postgres"

  paths       = ["/etc", "/var/lib/postgresql/backup-scripts"]
  exclude     = ["*.tmp", "/etc/ssl/private"]
  destination = "/mnt/backup"
  recipients = [
    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", # ops team
  ]

  schedule     = "30 2 * * *" # 02:30 in the host's time zone
  random_delay = "15m"
  full_every   = 7

  dumps = {
    "postgres.sql" = ["runuser", "-u", "postgres", "--", "pg_dumpall"]
  }

  keep_daily   = 7
  keep_weekly  = 4
  keep_monthly = 12

  verify_every  = "7d"
  stale_after   = "36h"
  run_on_create = true
}

# The same data to a second machine over SFTP, with its host key pinned.
resource "steward_backup_schedule" "offsite" {
  host       = steward_host.db.host_connection
  name       = "etc-offsite"
  paths      = ["/etc"]
  recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
  schedule   = "@daily"

  sftp = {
    host             = "backup.example.com"
    user             = "backup-db"
    private_key_file = "/root/.ssh/steward-backup" # on the db host
    host_key         = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAGI+g9uBZuSzZW2aWI1wg4mXW/Y2USI9KvzVfUetyDH"
    path             = "/srv/backups/db"
  }

  keep_daily  = 14
  keep_weekly = 8
}
