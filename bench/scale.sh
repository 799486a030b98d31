#!/usr/bin/env bash
# Benchmark: the drift check at fleet scale. On the first 10, 30 and 100 fleet
# hosts, each with a steward_host and a steward_backup_schedule:
#   - `terraform plan` (a refresh of every resource), at Terraform's default
#     parallelism (10) and at -parallelism=50;
#   - `ansible-playbook --check` of the equivalent playbook (bench/ansible/)
#     on the same hosts, with forks 10 and 50;
# and prints each run's wall time, the provider's peak RSS, the SSH
# connections each host saw and the remote commands (round trips) per
# resource read, both counted from each host's sshd log, and the ratios.
# Before it, the fleet's boot time and each host's memory, idle and with the
# agent deployed.
#
#   bench/scale.sh [SIZES...]    (default 10 30 100)
#   FLEET_UP=0 bench/scale.sh 2 3   (on the fleet that is up, which it leaves up)
#
# By default it boots a fleet of its own, as many hosts as the largest size,
# with test/fleet/fleet.sh in network, mount and PID namespaces of its own:
# the shared fleet keeps running, and when the benchmark ends, however it
# ends, the kernel takes the benchmark's hosts down with it. It still loads
# the machine: take the fleet lock so no acceptance test runs meanwhile:
#   flock -o /run/steward-fleet.lock bench/scale.sh
# Both tools must find every host as configured (a plan with no changes,
# a check with changed=0): a check that finds drift measures something else.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
for t in ansible-playbook:ansible /usr/bin/time:time bc:bc unshare:util-linux; do
  command -v "${t%%:*}" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${t##*:}" >/dev/null; }
done
[[ -x $root/bin/terraform-provider-steward ]] || make -C "$root" build >/dev/null
if [[ ${FLEET_UP:-1} == 1 && -z ${STEWARD_SCALE_NS:-} ]]; then
  # A tmpfs on /run/netns keeps the hosts' namespace names apart from the shared fleet's.
  mkdir -p /run/netns
  exec unshare --net --mount --pid --fork --mount-proc --propagation private \
    env STEWARD_SCALE_NS=1 FLEET_STATE="${SCALE_FLEET_STATE:-/var/lib/steward-fleet-scale}" \
    bash -c 'mount -t tmpfs -o mode=0755 scale-netns /run/netns && ip link set lo up && exec bash "$0" "$@"' "$root/bench/scale.sh" "$@"
fi
sizes=("$@")
((${#sizes[@]})) || sizes=(10 30 100)
max=$(printf '%s\n' "${sizes[@]}" | sort -n | tail -1)
fleet="$root/test/fleet/fleet.sh"
state=${FLEET_STATE:-/var/lib/steward-fleet}
tf=${TERRAFORM:-$(go env GOPATH)/bin/terraform}
now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }

work=$(mktemp -d)
avail() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }
if [[ ${FLEET_UP:-1} == 1 ]]; then
  trap 'cd /; rm -rf "$work"; "$fleet" down' EXIT
  avail0=$(avail)
  t0=$(now)
  "$fleet" up "$max"
  boot=$(elapsed "$t0" "$(now)")
  avail1=$(avail)
else
  trap 'cd /; rm -rf "$work"' EXIT
fi
have=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["hosts"]))' "$state/fleet.json")
((have >= max)) || { echo "the fleet has $have hosts, the largest size is $max: run fleet.sh up $max" >&2; exit 1; }
mem_idle=$("$fleet" memory | tail -1)

# The provider, started by Terraform through a dev override, runs under GNU
# time, which appends its peak RSS (KiB) and CPU seconds to rss.log when it
# exits. Terraform starts it more than once per command; the largest counts.
mkdir -p "$work/provider"
cat >"$work/provider/terraform-provider-steward" <<SH
#!/bin/sh
exec /usr/bin/time -a -o "$work/rss.log" -f '%M %U %S' "$root/bin/terraform-provider-steward" "\$@"
SH
chmod +x "$work/provider/terraform-provider-steward"
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "stewardhq/steward" = "$work/provider"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
(cd "$root" && go run filippo.io/age/cmd/age-keygen -o "$work/backup-key.txt" 2>/dev/null)
export TF_VAR_backup_recipient=$(sed -n 's/^# public key: //p' "$work/backup-key.txt")
export TF_VAR_fleet_file=$state/fleet.json

cat >"$work/main.tf" <<'TF'
terraform {
  required_providers {
    steward = { source = "stewardhq/steward" }
  }
}
variable "fleet_file" { type = string }
variable "hosts" { type = number }
variable "backup_recipient" { type = string }
locals {
  fleet = jsondecode(file(var.fleet_file))
  hosts = { for h in slice(local.fleet.hosts, 0, var.hosts) : h.name => h }
}
provider "steward" {
  default_connection {
    user             = "deploy"
    private_key_file = local.fleet.private_key_file
    sudo             = true
  }
}
resource "steward_host" "h" {
  for_each = local.hosts
  host = {
    host     = each.value.address
    host_key = each.value.host_key
    host_id  = each.value.machine_id
  }
  packages = ["hello"]
}
resource "steward_backup_schedule" "etc" {
  for_each      = local.hosts
  host          = steward_host.h[each.key].host_connection
  name          = "etc"
  paths         = ["/etc/ssh"]
  destination   = "/var/backups/steward"
  recipients    = [var.backup_recipient]
  schedule      = "@daily"
  keep_daily    = 7
  stale_after   = "36h"
  run_on_create = true
}
TF

# diagnose LOG prints, for each host LOG blames, what its sshd and console
# said, read from inside the host (its sshd may be what failed).
diagnose() {
  local name f pid
  for name in $(grep -o '^  with steward_[a-z_]*\.[a-z]*\["h[0-9]\+"\]' "$1" | grep -o '"h[0-9]\+"' | tr -d '"' | sort -u); do
    echo "== $name: sshd's log, its processes and its TCP connections; the console"
    pid=
    for f in /proc/[0-9]*/environ; do
      if grep -qsxz "STEWARD_FLEET_HOST=$name" "$f"; then pid=${f#/proc/}; pid=${pid%/environ}; break; fi
    done
    if [[ -n $pid ]]; then
      nsenter -t "$pid" -m -u -i -n -p journalctl _COMM=sshd -o short-precise --no-pager | grep -v 'COMMAND=' | tail -30
      nsenter -t "$pid" -m -u -i -n -p ps -eo pid,stat,etime,args | grep '[s]shd'
      nsenter -t "$pid" -n ss -tan
    fi
    tail -15 "$state/hosts/$name/console.log"
  done
}
cd "$work"
echo "deploying steward_host and steward_backup_schedule to $max hosts..."
t0=$(now)
"$tf" apply -auto-approve -no-color -input=false -parallelism=20 -var "hosts=$max" >apply.log 2>&1 || { tail -40 apply.log; diagnose apply.log; exit 1; }
deploy=$(elapsed "$t0" "$(now)")
deploy_rss=$(awk '$1 > m {m = $1} END {printf "%.1f", m / 1024}' rss.log)
avail2=$(avail)
mem_agent=$("$fleet" memory | tail -1)

# The state of the first N hosts: the full state less the other hosts' instances.
state_for() {
  python3 - "$work/terraform.tfstate" "$1" >"$2/terraform.tfstate" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
keep = {f"h{i}" for i in range(1, int(sys.argv[2]) + 1)}
for r in st["resources"]:
    r["instances"] = [i for i in r["instances"] if i.get("index_key") in keep]
json.dump(st, sys.stdout)
PY
}

key="$state/keys/id_ed25519"
fleet_field() { python3 -c 'import json,sys; [print(h[sys.argv[2]]) for h in json.load(open(sys.argv[1]))["hosts"][:int(sys.argv[3])]]' "$state/fleet.json" "$1" "$2"; }

# counters N FILE writes, per host of the first N, the deploy user's logins
# and command sessions so far, from the host's sshd log. Read as root, in
# parallel, so these reads count in neither.
counters() {
  local a i=0 dir
  dir=$(mktemp -d -p "$work")
  for a in $(fleet_field address "$1"); do
    i=$((i + 1))
    ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i "$key" "root@$a" \
      "journalctl -u ssh -o cat --no-pager | awk '/Accepted publickey for deploy /{l++} /Starting session: command for deploy /{s++} END{print l+0, s+0}'" \
      >"$dir/$i" &
  done
  wait
  for ((a = 1; a <= i; a++)); do cat "$dir/$a"; done >"$2"
  rm -rf "$dir"
}

# A line of results per run, for the table and the ratios: size tool setting
# seconds rss_mib cpu_s conns_min conns_max round_trips_per_read_min _max.
: >results.txt
record() { # size tool setting seconds rss cpu before after reads-per-host
  python3 - "$@" >>results.txt <<'PY'
import sys
size, tool, setting, secs, rss, cpu, before, after, reads = sys.argv[1:]
b = [list(map(int, l.split())) for l in open(before)]
a = [list(map(int, l.split())) for l in open(after)]
conns = [y[0] - x[0] for x, y in zip(b, a)]
rts = [(y[1] - x[1]) / int(reads) for x, y in zip(b, a)]
print(size, tool, setting, secs, rss, cpu, min(conns), max(conns), f"{min(rts):.2f}", f"{max(rts):.2f}")
PY
}

plan() { # size parallelism
  local n=$1 par=$2 dir=$work/tf-$1 rc=0
  mkdir -p "$dir" && cp main.tf "$dir/"
  [[ -f $dir/terraform.tfstate ]] || state_for "$n" "$dir"
  : >rss.log
  counters "$n" before.txt
  t0=$(now)
  (cd "$dir" && "$tf" plan -no-color -input=false -lock=false -detailed-exitcode -parallelism="$par" -var "hosts=$n" >"plan-$par.log" 2>&1) || rc=$?
  t1=$(now)
  counters "$n" after.txt
  ((rc == 0)) || { sed -n '/Terraform will perform\|Error/,$p' "$dir/plan-$par.log" | head -60; diagnose "$dir/plan-$par.log"; echo "plan of $n hosts exited $rc (want 0: no changes)" >&2; exit 1; }
  local rss cpu
  rss=$(awk '$1 > m {m = $1} END {printf "%.1f", m / 1024}' rss.log)
  cpu=$(awk '{c += $2 + $3} END {printf "%.2f", c}' rss.log)
  record "$n" terraform "parallelism=$par" "$(elapsed "$t0" "$t1")" "$rss" "$cpu" before.txt after.txt 2
}

check() { # size forks
  local n=$1 forks=$2 dir=$work/ansible-$1 rc=0
  mkdir -p "$dir"
  python3 - "$state/fleet.json" "$n" "$dir" <<'PY'
import json, sys
fleet = json.load(open(sys.argv[1])); hosts = fleet["hosts"][:int(sys.argv[2])]; d = sys.argv[3]
with open(f"{d}/known_hosts", "w") as f:
    for h in hosts:
        f.write(f'{h["address"]} {h["host_key"]}\n')
with open(f"{d}/inventory.ini", "w") as f:
    f.write("[fleet]\n")
    for h in hosts:
        f.write(f'{h["name"]} ansible_host={h["address"]} host_id={h["machine_id"]}\n')
    f.write(f"[fleet:vars]\nansible_user=deploy\nansible_ssh_private_key_file={fleet['private_key_file']}\n")
    f.write(f"ansible_ssh_common_args='-o UserKnownHostsFile={d}/known_hosts -o StrictHostKeyChecking=yes'\n")
PY
  local sha protocol
  protocol=$(sed -n 's/^const ProtocolVersion = \([0-9]*\)$/\1/p' "$root/internal/api/api.go")
  sha=$(python3 -c 'import json,sys; print(next(r["instances"][0]["attributes"]["agent_sha256"] for r in json.load(open(sys.argv[1]))["resources"] if r["type"] == "steward_host"))' terraform.tfstate)
  counters "$n" before.txt
  t0=$(now)
  # Each run gets its own ControlPersist sockets, so no run rides on the
  # connections of the one before.
  ANSIBLE_CONFIG="$root/bench/ansible/ansible.cfg" ANSIBLE_SSH_CONTROL_PATH_DIR="$dir/cp-$forks" \
    ansible-playbook -i "$dir/inventory.ini" --check --forks "$forks" \
    -e "agent_sha256=$sha agent_protocol=$protocol backup_recipient=$TF_VAR_backup_recipient" \
    "$root/bench/ansible/playbook.yml" >"$dir/check-$forks.log" 2>&1 || rc=$?
  t1=$(now)
  counters "$n" after.txt
  for s in "$dir/cp-$forks"/*; do [[ -S $s ]] && ssh -q -o ControlPath="$s" -O exit x 2>/dev/null; done || true
  ((rc == 0)) || { tail -40 "$dir/check-$forks.log"; echo "ansible-playbook --check on $n hosts exited $rc" >&2; exit 1; }
  if grep -qE 'changed=[1-9]|failed=[1-9]|unreachable=[1-9]' "$dir/check-$forks.log"; then
    grep -B2 -A3 'changed:' "$dir/check-$forks.log" | head -30
    echo "ansible-playbook --check found drift on $n hosts: the playbook is not equivalent" >&2; exit 1
  fi
  record "$n" ansible "forks=$forks" "$(elapsed "$t0" "$t1")" - - before.txt after.txt 2
}

for n in "${sizes[@]}"; do
  echo "measuring $n hosts..."
  plan "$n" 10
  plan "$n" 50
  check "$n" 10
  check "$n" 50
done

echo
echo "Steward at fleet scale: the drift check of N hosts x (steward_host + steward_backup_schedule)"
if [[ -n ${boot:-} ]]; then
  printf 'fleet.sh up %d: %.0f s; MemAvailable fell by %d MiB (%.1f MiB per host), by %d MiB (%.1f per host) once deployed\n' \
    "$max" "$boot" $(((avail0 - avail1) / 1024)) "$(echo "($avail0 - $avail1) / 1024 / $max" | bc -l)" \
    $(((avail0 - avail2) / 1024)) "$(echo "($avail0 - $avail2) / 1024 / $max" | bc -l)"
fi
echo "host memory (PSS of its processes + its tmpfs), before the deploy: $mem_idle"
echo "host memory after the deploy (the agent daemon running):         $mem_agent"
printf 'deploy (terraform apply, %d hosts, -parallelism=20): %.1f s, provider peak RSS %s MiB\n\n' "$max" "$deploy" "$deploy_rss"
python3 - results.txt <<'PY'
import collections, sys
rows = [l.split() for l in open(sys.argv[1])]
t = {(int(r[0]), r[1], r[2]): r for r in rows}
print(f"{'hosts':>5}  {'run':<34} {'wall s':>7} {'provider RSS':>12} {'provider CPU':>12} {'SSH conns/host':>14} {'round trips/read':>16}")
for r in rows:
    n, tool, setting, secs, rss, cpu, cmin, cmax, rmin, rmax = r
    name = ("terraform plan -" if tool == "terraform" else "ansible-playbook --check --") + setting.replace("=", "=" if tool == "terraform" else " ")
    conns = cmin if cmin == cmax else f"{cmin}-{cmax}"
    rts = rmin if rmin == rmax else f"{rmin}-{rmax}"
    print(f"{n:>5}  {name:<34} {float(secs):>7.2f} {rss + ' MiB' if rss != '-' else '-':>12} {cpu + ' s' if cpu != '-' else '-':>12} {conns:>14} {rts:>16}")
sizes = sorted({int(r[0]) for r in rows})
print()
for n in sizes:
    for tf, an in (("parallelism=10", "forks=10"), ("parallelism=50", "forks=50")):
        print(f"{n:>5} hosts: ansible --check ({an}) / terraform plan ({tf}) = {float(t[(n, 'ansible', an)][3]) / float(t[(n, 'terraform', tf)][3]):6.1f}x")
    best_tf = min(float(t[(n, "terraform", s)][3]) for s in ("parallelism=10", "parallelism=50"))
    best_an = min(float(t[(n, "ansible", s)][3]) for s in ("forks=10", "forks=50"))
    print(f"{n:>5} hosts: fastest ansible / fastest plan = {best_an / best_tf:6.1f}x   (target >= 10x at 100 hosts)")
lo, hi = sizes[0], sizes[-1]
if hi > lo:
    for s in ("parallelism=10", "parallelism=50"):
        g = float(t[(hi, "terraform", s)][3]) / float(t[(lo, "terraform", s)][3])
        print(f"plan time {lo} -> {hi} hosts ({s}): x{g:.2f} for x{hi / lo:g} hosts   (target <= x{hi / lo:g})")
for s in ("parallelism=10", "parallelism=50"):
    print(f"provider peak RSS at {hi} hosts ({s}): {t[(hi, 'terraform', s)][4]} MiB   (target < 200 MiB)")
PY
