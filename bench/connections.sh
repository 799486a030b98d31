#!/usr/bin/env bash
# Benchmark: `terraform plan` reading steward_host_facts for N fleet hosts, three
# data sources per host. Prints the plan's wall time and the SSH logins each host
# saw during the plan (counted from sshd's own log on the host): the target is
# exactly one connection per host per Terraform command.
#
#   bench/connections.sh [HOSTS]    (default 10; boots the fleet, takes it down after)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
hosts=${1:-10}
per_host=3
fleet="$root/test/fleet/fleet.sh"
state=${FLEET_STATE:-/var/lib/steward-fleet}
tf=${TERRAFORM:-$(go env GOPATH)/bin/terraform}
[[ -x $root/bin/terraform-provider-steward ]] || (cd "$root" && go build -o bin/terraform-provider-steward .)

"$fleet" up "$hosts"
work=$(mktemp -d)
trap 'cd /; rm -rf "$work"; "$fleet" down' EXIT
"$root/test/dev-terraformrc.sh" "$work/terraformrc"
cat >"$work/main.tf" <<'TF'
terraform {
  required_providers {
    steward = { source = "stewardhq/steward" }
  }
}
variable "fleet_file" { type = string }
variable "per_host" { type = number }
locals {
  fleet = jsondecode(file(var.fleet_file))
  reads = merge([for h in local.fleet.hosts : { for i in range(var.per_host) : "${h.name}-${i}" => h }]...)
}
provider "steward" {
  default_connection {
    user             = "deploy"
    private_key_file = local.fleet.private_key_file
    sudo             = true
  }
}
data "steward_host_facts" "f" {
  for_each = local.reads
  host = {
    host     = each.value.address
    host_key = each.value.host_key
    host_id  = each.value.machine_id
  }
}
output "hosts_read" { value = length(distinct([for f in data.steward_host_facts.f : f.host_id])) }
TF
export TF_CLI_CONFIG_FILE="$work/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1

key="$state/keys/id_ed25519"
addrs=$(python3 -c 'import json,sys; print(" ".join(h["address"] for h in json.load(open(sys.argv[1]))["hosts"]))' "$state/fleet.json")
# Logins of the deploy user, from sshd's log on each host (read as root, so not counted).
logins() {
  local a
  for a in $addrs; do
    ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i "$key" "root@$a" \
      "journalctl -u ssh -o cat --no-pager | grep -c 'Accepted publickey for deploy' || true"
  done
}

cd "$work"
before=($(logins))
start=$(date +%s.%N)
"$tf" plan -no-color -input=false -var "fleet_file=$state/fleet.json" -var "per_host=$per_host" >plan.log 2>&1 || { cat plan.log; exit 1; }
end=$(date +%s.%N)
after=($(logins))

reads=$(grep -c 'Read complete' plan.log || true)
echo
echo "terraform plan: $hosts hosts x $per_host steward_host_facts = $reads data source reads"
printf 'wall time: %.2f s\n' "$(echo "$end - $start" | bc -l 2>/dev/null || python3 -c "print($end-$start)")"
echo "SSH logins per host during the plan (from each host's sshd log):"
i=0 bad=0
for a in $addrs; do
  n=$((after[i] - before[i]))
  printf '  %-13s %d\n' "$a" "$n"
  [[ $n -eq 1 ]] || bad=1
  i=$((i + 1))
done
if ((bad)); then echo "FAIL: want exactly 1 connection per host"; exit 1; fi
echo "OK: exactly one SSH connection per host"
