#!/usr/bin/env bash
# Benchmark: the drift check of N fleet hosts (default 10), each with one
# steward_host (agent service, its config file, one package):
#   - `terraform plan` (refresh of every steward_host), timed;
#   - `ansible-playbook --check` of a playbook that ensures the same package,
#     file and service on the same hosts, timed;
# and prints both times, the ratio, SSH connections per host and remote
# commands (round trips) per resource read, counted from each host's sshd log.
#
#   bench/drift.sh [HOSTS]     (boots the fleet, takes it down after)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
hosts=${1:-10}
fleet="$root/test/fleet/fleet.sh"
state=${FLEET_STATE:-/var/lib/steward-fleet}
tf=${TERRAFORM:-$(go env GOPATH)/bin/terraform}
command -v ansible-playbook >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ansible >/dev/null; }
[[ -x $root/bin/terraform-provider-steward ]] || make -C "$root" build >/dev/null

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
locals { fleet = jsondecode(file(var.fleet_file)) }
provider "steward" {
  default_connection {
    user             = "deploy"
    private_key_file = local.fleet.private_key_file
    sudo             = true
  }
}
resource "steward_host" "h" {
  for_each = { for h in local.fleet.hosts : h.name => h }
  host = {
    host     = each.value.address
    host_key = each.value.host_key
  }
  packages = ["hello"]
}
TF
export TF_CLI_CONFIG_FILE="$work/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
cd "$work"
echo "deploying steward_host to $hosts hosts..."
"$tf" apply -auto-approve -no-color -var "fleet_file=$state/fleet.json" >apply.log 2>&1 || { cat apply.log; exit 1; }

key="$state/keys/id_ed25519"
addrs=$(python3 -c 'import json,sys; print(" ".join(h["address"] for h in json.load(open(sys.argv[1]))["hosts"]))' "$state/fleet.json")
{
  echo "[fleet]"
  for a in $addrs; do echo "$a"; done
  echo "[fleet:vars]"
  echo "ansible_user=deploy"
  echo "ansible_ssh_private_key_file=$key"
  echo "ansible_python_interpreter=/usr/bin/python3"
} >inventory.ini
# The same desired state as steward_host: the package, the agent's config file, the service.
cat >playbook.yml <<'YML'
- hosts: fleet
  become: true
  gather_facts: false
  tasks:
    - name: package
      ansible.builtin.apt:
        name: hello
        state: present
    - name: agent configuration
      ansible.builtin.file:
        path: /etc/steward/agent.json
        state: file
        mode: "0600"
        owner: root
    - name: agent binary
      ansible.builtin.stat:
        path: /usr/local/lib/steward/current
        checksum_algorithm: sha256
    - name: service
      ansible.builtin.systemd:
        name: steward-agent
        state: started
        enabled: true
YML

# Counters from each host's sshd log, read as root (root's own logins are not counted).
count() {
  local a
  for a in $addrs; do
    ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i "$key" "root@$a" \
      "journalctl -u ssh -o cat --no-pager | grep -c '$1' || true"
  done
}
logins() { count 'Accepted publickey for deploy'; }
sessions() { count 'Starting session: command for deploy'; }

now() { date +%s.%N; }
l0=($(logins)); s0=($(sessions))
t0=$(now)
"$tf" plan -no-color -detailed-exitcode -var "fleet_file=$state/fleet.json" >plan.log 2>&1 || { rc=$?; [[ $rc -eq 0 ]] || { cat plan.log; echo "plan exited $rc (want 0: no drift)"; exit 1; }; }
t1=$(now)
l1=($(logins)); s1=($(sessions))

export ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_FORKS=$hosts ANSIBLE_NOCOLOR=1 ANSIBLE_STDOUT_CALLBACK=default
t2=$(now)
ansible-playbook -i inventory.ini --check playbook.yml >ansible.log 2>&1 || { cat ansible.log; exit 1; }
t3=$(now)
grep -E 'ok=|changed=' ansible.log | head -3 >&2 || true

tfp=$(echo "$t1 - $t0" | bc -l); ans=$(echo "$t3 - $t2" | bc -l)
echo
echo "drift check of $hosts hosts x 1 steward_host (service, config file, package, binary)"
printf '  terraform plan (Steward)        %6.2f s\n' "$tfp"
printf '  ansible-playbook --check        %6.2f s\n' "$ans"
printf '  ratio (ansible / steward)       %6.1fx   (target >= 5x)\n' "$(echo "$ans / $tfp" | bc -l)"
echo "  per host during the plan:       SSH connections   remote commands (= round trips per steward_host read)"
i=0
for a in $addrs; do
  printf '    %-13s                   %d                 %d\n' "$a" $((l1[i] - l0[i])) $((s1[i] - s0[i]))
  i=$((i + 1))
done
