# Quickstart: deploy the Steward agent to every host of the local test fleet,
# read their facts, and back up /etc of the first host.
# `make demo` boots the fleet and runs this; the fleet description gives the
# addresses, the login key and each host's public key to pin.
terraform {
  required_providers {
    steward = {
      source = "stewardhq/steward"
    }
  }
}

variable "backup_recipient" {
  description = "age public key the backups are encrypted to; whoever holds its private key can restore (run.sh makes one)."
  type        = string
}

variable "fleet_file" {
  description = "Fleet description written by test/fleet/fleet.sh up."
  type        = string
  default     = "/var/lib/steward-fleet/fleet.json"
}

locals {
  fleet = jsondecode(file(var.fleet_file))
  hosts = { for h in local.fleet.hosts : h.name => h }
}

provider "steward" {
  default_connection {
    user             = "deploy"
    private_key_file = local.fleet.private_key_file
    sudo             = true
  }
}

resource "steward_host" "fleet" {
  for_each = local.hosts
  host = {
    host     = each.value.address
    host_key = each.value.host_key
    host_id  = each.value.machine_id
  }
  packages = ["hello"]
}

data "steward_host_facts" "fleet" {
  for_each = local.hosts
  host = {
    host     = each.value.address
    host_key = each.value.host_key
  }
}

# /etc of h1, into a directory on h1 itself, encrypted to backup_recipient:
# the host can write its backups but not read them. One backup runs during
# the apply that creates or changes the schedule; then the agent runs one
# every night. A new backup_recipient (run.sh makes a new key each time) is
# a key rotation: that apply takes a full snapshot to the new key.
resource "steward_backup_schedule" "etc" {
  host          = steward_host.fleet["h1"].host_connection
  name          = "etc"
  paths         = ["/etc"]
  destination   = "/var/backups/steward"
  recipients    = [var.backup_recipient]
  schedule      = "@daily"
  keep_daily    = 7
  stale_after   = "36h"
  run_on_create = true
  run_on_change = true
}

# The catalog reads the host directly, not through steward_host.fleet, so a
# pending change to another host does not defer it.
data "steward_backups" "etc" {
  host = {
    host     = local.hosts["h1"].address
    host_key = local.hosts["h1"].host_key
  }
  schedule = steward_backup_schedule.etc.name
}

output "backups" {
  value = [for s in data.steward_backups.etc.snapshots : "${s.id}: ${s.kind}, ${s.files} files, ${s.bytes} bytes encrypted, verified ${s.verified}"]
}

output "facts" {
  value = {
    for name, f in data.steward_host_facts.fleet : name => {
      hostname    = f.hostname
      host_id     = f.host_id
      os          = f.os_name
      kernel      = f.kernel
      arch        = f.architecture
      cpus        = f.cpu_count
      memory_mib  = floor(f.memory_bytes / 1048576)
      init        = f.init_system
      fingerprint = f.host_key_fingerprint
      agent       = steward_host.fleet[name].agent_version
      hello       = steward_host.fleet[name].package_versions["hello"]
    }
  }
}
