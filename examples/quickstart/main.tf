# Quickstart: deploy the Steward agent to every host of the local test fleet
# and read their facts.
# `make demo` boots the fleet and runs this; the fleet description gives the
# addresses, the login key and each host's public key to pin.
terraform {
  required_providers {
    steward = {
      source = "stewardhq/steward"
    }
  }
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
