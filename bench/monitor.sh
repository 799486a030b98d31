#!/usr/bin/env bash
# Benchmark: what monitoring costs a host. On one fleet host, side by side in
# one run:
#   - Steward's agent daemon, deployed by `terraform apply` of a steward_host
#     with `monitoring = { interval = "10s" }` (collection, history and the
#     status page on, as by default);
#   - prometheus-node-exporter with its default collectors (no history),
#     twice: as Debian builds it (the systemd collector on) and with
#     --no-collector.systemd (upstream's default set);
#   - Netdata with its default collectors and its dbengine history, at the
#     same 10 s interval (NETDATA_EVERY=1 for Netdata's own default);
# both Debian packages, installed on the host from a temporary apt
# repository served on the fleet's bridge, their services kept from starting
# (policy-rc.d) and disabled; this script starts each under the measurement.
# A Prometheus on this machine scrapes all three every 10 s for MINUTES
# (default 10), through one `ssh -L` tunnel to their loopback listeners, so
# every scrape takes the same path. Measured from the host's /proc, per tool
# (its main process and every descendant):
#   - RSS (VmRSS) after the warm-up and at the end;
#   - CPU seconds per minute (utime+stime of the processes and of the
#     children they reaped, /proc/PID/stat) over the run;
#   - CPU per scrape: afterwards, with Prometheus stopped, SCRAPES (200)
#     scrapes back to back with Prometheus' request headers, the CPU delta
#     divided by their number (raw), and net of the tool's own background
#     cost (solved from both phases);
#   - history bytes per day: the growth of /var/lib/steward/history and of
#     Netdata's dbengine directories over the run, scaled to 24 h, and what
#     they hold after a clean stop over the time each ran.
# Prints a table, the ratios Steward/node_exporter and Steward/Netdata, and
# the targets of issue 9. The host is left as it was found however the
# script ends: the packages, users and files they brought are purged, the
# steward_host destroyed (and any leftover /var/lib/steward put back).
#
#   bench/monitor.sh              (takes the fleet lock itself; ~14 minutes)
#   MINUTES=2 bench/monitor.sh    (while developing; the recorded run is 10)
#   BENCH_HOST=h2 bench/monitor.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${FLEET_STATE:-/var/lib/steward-fleet}
if [[ -z ${STEWARD_BENCH_LOCKED:-} ]]; then
  until [[ -e /run/steward-fleet.ready ]]; do echo "waiting for /run/steward-fleet.ready..."; sleep 10; done
  exec flock -o /run/steward-fleet.lock env STEWARD_BENCH_LOCKED=1 bash "$0" "$@"
fi
minutes=${MINUTES:-10} warmup=${WARMUP:-60} scrapes=${SCRAPES:-200} netdata_every=${NETDATA_EVERY:-10}
tf=${TERRAFORM:-$(go env GOPATH)/bin/terraform}
for t in prometheus:prometheus curl:curl apt-ftparchive:apt-utils; do
  command -v "${t%%:*}" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${t##*:}" >/dev/null; }
done
[[ -x $root/bin/terraform-provider-steward ]] || make -C "$root" build >/dev/null

# The host: address, host key and machine id from the fleet's description.
IFS=$'\t' read -r name addr host_key machine_id bridge < <(python3 - "$state/fleet.json" "${BENCH_HOST:-}" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
h = next(h for h in f["hosts"] if h["name"] == (sys.argv[2] or f["hosts"][0]["name"]))
print("\t".join([h["name"], h["address"], h["host_key"], h["machine_id"], f["bridge_address"]]))
PY
)
key=$state/keys/id_ed25519
work=$(mktemp -d)
echo "$addr $host_key" >"$work/known_hosts"
ssh_opts=(-q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$work/known_hosts" -i "$key")
onhost() { ssh "${ssh_opts[@]}" "root@$addr" "$@"; }
now() { date +%s.%N; }
free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"; }

packages="netdata netdata-plugins-python prometheus-node-exporter"
bench_list=/etc/apt/sources.list.d/steward-bench-monitor.list

# snapshot TOOL=UNIT... prints, as JSON, per tool its process tree's CPU
# ticks (utime+stime+cutime+cstime), RSS and process names, and the sizes of
# the history directories; read from the host's /proc in one ssh call.
snapshot_py=$(cat <<'PY'
import glob, json, os, subprocess, sys
hz = os.sysconf("SC_CLK_TCK")
procs = {}
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        s = open(f"/proc/{p}/stat").read()
        comm = s[s.index("(") + 1:s.rindex(")")]
        f = s[s.rindex(")") + 2:].split()
        rss = 0
        for line in open(f"/proc/{p}/status"):
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    except (OSError, ValueError):
        continue  # gone meanwhile
    # Fields 4 (ppid), 14-17 (utime stime cutime cstime), 22 (starttime).
    procs[int(p)] = {"ppid": int(f[1]), "ticks": sum(int(x) for x in f[11:15]), "start": int(f[19]), "rss": rss, "comm": comm}
kids = {}
for pid, p in procs.items():
    kids.setdefault(p["ppid"], []).append(pid)
uptime = float(open("/proc/uptime").read().split()[0])
def size(paths):
    n = 0
    for top in paths:
        for d, _, files in os.walk(top):
            for x in files:
                try:
                    n += os.lstat(os.path.join(d, x)).st_size
                except OSError:
                    pass
    return n
out = {"tools": {}, "history": {
    "steward": size(["/var/lib/steward/history"]),
    "netdata": size(glob.glob("/var/cache/netdata/dbengine*")),
}}
for arg in sys.argv[1:]:
    tool, unit = arg.split("=")
    pid = int(subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", unit], capture_output=True, text=True).stdout.strip() or 0)
    if pid not in procs:
        continue
    tree, todo = [], [pid]
    while todo:
        q = todo.pop()
        tree.append(q)
        todo += kids.get(q, [])
    out["tools"][tool] = {"pid": pid, "age": uptime - procs[pid]["start"] / hz, "hz": hz,
                          "ticks": sum(procs[q]["ticks"] for q in tree), "rss_kb": sum(procs[q]["rss"] for q in tree),
                          "main_rss_kb": procs[pid]["rss"], "procs": sorted(procs[q]["comm"] for q in tree)}
print(json.dumps(out))
PY
)
tools=(steward node_exporter node_exporter_sd netdata)
units=(steward=steward-agent.service node_exporter=bench-node-exporter.service
  node_exporter_sd=bench-node-exporter-sd.service netdata=bench-netdata.service)
snapshot() { onhost python3 - "$@" <<<"$snapshot_py"; }

# What the host holds before anything is installed, to put it back after.
onhost "dpkg-query -W -f='\${Package}\n'" | sort >"$work/packages.before"
onhost "cut -d: -f1 /etc/passwd" | sort >"$work/users.before"
onhost "cut -d: -f1 /etc/group" | sort >"$work/groups.before"
host_files() {
  onhost "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp \
    -o -path /var/log -o -path /var/lib/systemd -o -path /var/cache/debconf -o -path /var/cache/apt -o -path /var/lib/apt/lists \
    -o -path /var/cache/ldconfig \\) -prune -o -print" | grep -v -- '-old$' | sort
}
host_files >"$work/files.before"
if onhost "test -e /usr/local/lib/steward || test -e /etc/steward || systemctl cat steward-agent.service >/dev/null 2>&1"; then
  echo "$name has a Steward agent installed; pick a host without one (BENCH_HOST=)" >&2
  rm -rf "$work"; exit 1
fi
if onhost "test -e /usr/sbin/policy-rc.d || test -e $bench_list || systemctl cat netdata.service prometheus-node-exporter.service >/dev/null 2>&1"; then
  echo "$name already has a policy-rc.d, $bench_list, netdata or node_exporter; pick another host (BENCH_HOST=)" >&2
  rm -rf "$work"; exit 1
fi

repo_pid= tunnel_pid= prom_pid= applied=0 stash=0
cleanup() {
  set +e
  [[ -n $prom_pid ]] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
  [[ -n $tunnel_pid ]] && kill "$tunnel_pid" 2>/dev/null && wait "$tunnel_pid" 2>/dev/null
  echo "cleaning up $name..."
  local bench_units="bench-netdata.service bench-node-exporter.service bench-node-exporter-sd.service"
  onhost "systemctl stop $bench_units; systemctl reset-failed $bench_units" >/dev/null 2>&1
  if ((applied)); then
    (cd "$work" && "$tf" destroy -auto-approve -no-color -input=false -refresh=false >destroy.log 2>&1) || {
      tail -20 "$work/destroy.log"
      echo "terraform destroy failed; removing the agent by hand"
      onhost "systemctl disable --now steward-agent >/dev/null 2>&1; rm -rf /usr/local/lib/steward /etc/steward /etc/systemd/system/steward-agent.service \
        /etc/systemd/system/steward-agent.service.d /var/lib/steward /var/log/steward; systemctl daemon-reload"
    }
  fi
  ((stash)) && onhost "rm -rf /var/lib/steward /var/log/steward && tar -xpf - -C /" <"$work/steward-state.tar"
  onhost "dpkg-query -W -f='\${Package}\n'" | sort >"$work/packages.after"
  local extra
  extra=$(comm -13 "$work/packages.before" "$work/packages.after" | tr '\n' ' ')
  [[ -n ${extra// /} ]] && onhost "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $extra" >"$work/purge.log" 2>&1
  # Users and groups the packages added, their directories, and the bench repository's traces.
  onhost "cut -d: -f1 /etc/passwd" | sort | comm -13 "$work/users.before" - | while read -r u; do onhost "userdel $u"; done
  onhost "cut -d: -f1 /etc/group" | sort | comm -13 "$work/groups.before" - | while read -r g; do onhost "groupdel $g"; done
  onhost "rm -rf /var/cache/netdata /var/lib/netdata /var/log/netdata /etc/netdata /var/lib/prometheus $bench_list \
    /var/lib/apt/lists/*${bridge}*${repo_port:-0}_* /usr/sbin/policy-rc.d; \
    cd /var/cache/apt/archives && rm -f $(cd "$work/repo" 2>/dev/null && echo *.deb)"
  grep -qx /var/lib/apt/extended_states "$work/files.before" || onhost "rm -f /var/lib/apt/extended_states"
  [[ -n $repo_pid ]] && kill "$repo_pid" 2>/dev/null && wait "$repo_pid" 2>/dev/null
  host_files >"$work/files.after"
  if ! diff -q "$work/files.before" "$work/files.after" >/dev/null; then
    echo "WARNING: $name differs from before the benchmark:"
    diff "$work/files.before" "$work/files.after" | head -30
  elif ! cmp -s "$work/packages.before" <(onhost "dpkg-query -W -f='\${Package}\n'" | sort); then
    echo "WARNING: $name's packages differ from before the benchmark"
  else
    echo "$name is as it was before the benchmark"
  fi
  cd /
  [[ -n ${BENCH_KEEP:-} ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of earlier tests (no agent, but its state directories) wait on
# this machine, so the agent starts with an empty history.
if onhost "test -e /var/lib/steward || test -e /var/log/steward"; then
  onhost "tar -cpf - -C / \$(cd / && ls -d var/lib/steward var/log/steward 2>/dev/null) && rm -rf /var/lib/steward /var/log/steward" >"$work/steward-state.tar"
  stash=1
fi

# The packages the host lacks (Depends and Pre-Depends of the three), from
# this machine's apt, as a repository served on the bridge.
echo "building the apt repository for $packages..."
mkdir -p "$work/repo"
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances $packages |
  grep -v '^[ <]' | sed 's/:any$//' | sort -u | comm -23 - "$work/packages.before" >"$work/need"
(cd "$work/repo" && apt-get download $(cat "$work/need") >/dev/null 2>&1) ||
  { apt-get update -qq && (cd "$work/repo" && apt-get download $(cat "$work/need") >/dev/null); }
(cd "$work/repo" && apt-ftparchive packages . >Packages)
repo_port=$(free_port "$bridge")
python3 -m http.server --bind "$bridge" --directory "$work/repo" "$repo_port" >"$work/repo.log" 2>&1 &
repo_pid=$!
sleep 1
echo "installing $packages on $name ($addr)..."
onhost "set -e; echo 'deb [trusted=yes] http://$bridge:$repo_port/ ./' >$bench_list
  apt-get update -q -o Dir::Etc::sourcelist=$bench_list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >/dev/null
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages >/dev/null
  rm -f /usr/sbin/policy-rc.d
  systemctl disable --now netdata.service prometheus-node-exporter.service 2>/dev/null
  dpkg-query -W -f='\${Package} \${Version}\n' netdata-core prometheus-node-exporter"

echo "deploying steward_host with monitoring to $name..."
"$root/test/dev-terraformrc.sh" "$work/terraformrc"
export TF_CLI_CONFIG_FILE="$work/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
cat >"$work/main.tf" <<TF
terraform {
  required_providers {
    steward = { source = "stewardhq/steward" }
  }
}
provider "steward" {
  default_connection {
    user             = "deploy"
    private_key_file = "$key"
    sudo             = true
  }
}
resource "steward_host" "h" {
  host = {
    host     = "$addr"
    host_key = "$host_key"
    host_id  = "$machine_id"
  }
  purge_on_destroy = true
  monitoring = {
    interval = "10s"
  }
}
TF
applied=1
(cd "$work" && "$tf" apply -auto-approve -no-color -input=false >apply.log 2>&1) || { tail -30 "$work/apply.log"; exit 1; }

echo "starting node_exporter and Netdata (update every ${netdata_every}s)..."
# The packages' own units, less their hardening; Netdata drops to its user itself.
onhost "systemd-run -q --unit=bench-node-exporter -p User=prometheus /usr/bin/prometheus-node-exporter --web.listen-address=127.0.0.1:9100
  systemd-run -q --unit=bench-node-exporter-sd -p User=prometheus /usr/bin/prometheus-node-exporter --web.listen-address=127.0.0.1:9101 \
    --no-collector.systemd
  systemd-run -q --unit=bench-netdata -p RuntimeDirectory=netdata -p LimitNOFILE=65536 -p WorkingDirectory=/tmp \
    -E netdata_LOG_LOCATION=/var/log/netdata/log /usr/sbin/netdata -D -i 127.0.0.1 -p 19999 -W set global 'update every' $netdata_every"

# Each tool's port on the host, and the local end of its tunnel.
declare -A remote=([steward]=9276 [node_exporter]=9100 [node_exporter_sd]=9101 [netdata]=19999) port=() url=()
forwards=()
for tool in "${tools[@]}"; do
  port[$tool]=$(free_port 127.0.0.1)
  forwards+=(-L "127.0.0.1:${port[$tool]}:127.0.0.1:${remote[$tool]}")
  url[$tool]="http://127.0.0.1:${port[$tool]}/metrics"
done
url[netdata]="http://127.0.0.1:${port[netdata]}/api/v1/allmetrics?format=prometheus"
ssh "${ssh_opts[@]}" -N -o ExitOnForwardFailure=yes "${forwards[@]}" "root@$addr" &
tunnel_pid=$!
for tool in "${tools[@]}"; do
  for i in $(seq 30); do curl -sf -o /dev/null "${url[$tool]}" && break; sleep 1; done
  curl -sf -o /dev/null "${url[$tool]}" || { echo "$tool does not answer at ${url[$tool]}" >&2; exit 1; }
done

p_prom=$(free_port 127.0.0.1)
mkdir -p "$work/prom"
cat >"$work/prom/prometheus.yml" <<YML
global: { scrape_interval: 10s, scrape_timeout: 10s }
scrape_configs:
$(for tool in "${tools[@]}"; do
  printf '  - job_name: %s\n    static_configs: [{ targets: ["127.0.0.1:%s"] }]\n' "$tool" "${port[$tool]}"
  [[ $tool == netdata ]] && printf '    metrics_path: /api/v1/allmetrics\n    params: { format: [prometheus] }\n'
done)
YML
prometheus --config.file="$work/prom/prometheus.yml" --storage.tsdb.path="$work/prom/data" \
  --web.listen-address="127.0.0.1:$p_prom" >"$work/prom/log" 2>&1 &
prom_pid=$!
for i in $(seq 30); do curl -sf -o /dev/null "http://127.0.0.1:$p_prom/-/ready" && break; sleep 1; done

echo "warming up ${warmup}s, then measuring ${minutes} min with a scrape every 10 s..."
sleep "$warmup" & wait $!  # in the background: a signal ends the run at once
snapshot "${units[@]}" >"$work/start.json"
t0=$(now) load0=$(cut -d' ' -f1-3 /proc/loadavg)
sleep $((minutes * 60)) & wait $!
snapshot "${units[@]}" >"$work/end.json"
t1=$(now) load1=$(cut -d' ' -f1-3 /proc/loadavg)
promq() { curl -sf "http://127.0.0.1:$p_prom/api/v1/query" --data-urlencode "query=$1" --data-urlencode "time=$t1"; }
window=$(python3 -c "import sys; print(int(float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$t1")
for q in "sum_over_time(up[${window}s])" "count_over_time(up[${window}s])" "avg_over_time(scrape_samples_scraped[${window}s])" \
  "avg_over_time(scrape_duration_seconds[${window}s])"; do
  promq "$q"
  echo
done >"$work/prom.json"
# What each ran: Netdata's effective configuration, Steward's collectors.
curl -sf "http://127.0.0.1:${port[netdata]}/netdata.conf" >"$work/netdata.conf" || true
curl -sf "${url[steward]}" | sed -n 's/^steward_collector_success{collector="\([^"]*\)".*/\1/p' | sort -u | tr '\n' ' ' >"$work/steward.collectors"
for u in node-exporter node-exporter-sd; do
  onhost "journalctl -u bench-$u -o cat --no-pager" | sed -n 's/.*collector=\([a-z_0-9]*\).*/\1/p' | sort -u | tr '\n' ' ' >"$work/$u.collectors"
done
kill "$prom_pid" && wait "$prom_pid" 2>/dev/null || true
prom_pid=

echo "CPU per scrape: $scrapes scrapes of each, back to back, with Prometheus stopped..."
# One curl per tool: one kept-alive connection, as Prometheus' scrapes have,
# and Prometheus' headers (so each tool picks the same format and gzip).
: >"$work/scrapes.txt"
for tool in "${tools[@]}"; do
  for i in $(seq "$scrapes"); do printf 'url = "%s"\noutput = "/dev/null"\n' "${url[$tool]}"; done >"$work/curl-$tool.cfg"
  u=; for x in "${units[@]}"; do [[ ${x%%=*} == "$tool" ]] && u=$x; done
  snapshot "$u" >"$work/scrape0-$tool.json"
  s0=$(now)
  curl -s --config "$work/curl-$tool.cfg" -w '%{http_code} %{size_download}\n' -H 'Accept-Encoding: gzip' \
    -H 'Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1' \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 10' >"$work/curl-$tool.out"
  s1=$(now)
  snapshot "$u" >"$work/scrape1-$tool.json"
  ok=$(grep -c '^200 ' "$work/curl-$tool.out" || true)
  ((ok == scrapes)) || { echo "$tool answered $ok of $scrapes scrapes with 200" >&2; exit 1; }
  echo "$tool $s0 $s1 $(awk '{b += $2} END {printf "%d", b / NR}' "$work/curl-$tool.out")" >>"$work/scrapes.txt"
done

# History after a clean stop: Netdata writes the pages it holds in memory.
onhost "systemctl stop bench-netdata.service steward-agent.service"
snapshot >"$work/stopped.json"
onhost "ls -l /var/lib/steward/history; du -sb /var/cache/netdata/dbengine*" >"$work/history.ls"

echo
echo "Monitoring a host, $minutes min at a 10 s scrape interval, on $name ($(onhost nproc) cores shared with the fleet and this machine's builds;
load average $load0 at the start, $load1 at the end)"
python3 - "$work" "$t0" "$t1" "$scrapes" "${tools[@]}" <<'PY'
import json, sys
w, t0, t1, n_scrapes, tools = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
ld = lambda f: json.load(open(f"{w}/{f}"))
start, end, stopped = ld("start.json"), ld("end.json"), ld("stopped.json")
T = t1 - t0
prom = [json.loads(l) for l in open(f"{w}/prom.json") if l.strip()]
def pv(i, job):
    return next((float(r["value"][1]) for r in prom[i]["data"]["result"] if r["metric"]["job"] == job), float("nan"))
scr = {l.split()[0]: l.split()[1:] for l in open(f"{w}/scrapes.txt")}
r = {}
for t in tools:
    s, e = start["tools"][t], end["tools"][t]
    hz = s["hz"]
    W = (e["ticks"] - s["ticks"]) / hz
    a, b = ld(f"scrape0-{t}.json")["tools"][t], ld(f"scrape1-{t}.json")["tools"][t]
    D, E = (b["ticks"] - a["ticks"]) / hz, float(scr[t][1]) - float(scr[t][0])
    n = T / 10  # scrapes during the run
    # CPU = background rate x time + cost x scrapes, in both phases: solved for the cost.
    net = (D - E * W / T) / (n_scrapes - E * n / T)
    hist = None
    if t in start["history"]:
        grow = end["history"][t] - start["history"][t]
        hist = (grow / T * 86400, stopped["history"][t] / b["age"] * 86400, stopped["history"][t])
    r[t] = dict(rss0=s["rss_kb"] / 1024, rss1=e["rss_kb"] / 1024, main1=e["main_rss_kb"] / 1024,
                cpu=W / T * 60, raw=D / n_scrapes * 1000, net=net * 1000, hist=hist, procs=e["procs"],
                ok=pv(0, t), total=pv(1, t), samples=pv(2, t), dur=pv(3, t) * 1000, bytes=int(scr[t][2]))
names = {"steward": "Steward", "node_exporter": "node_exp", "node_exporter_sd": "node_exp-sd", "netdata": "Netdata"}
others = tools[1:]
def row(label, f):
    vals = [f(r[t]) for t in tools]
    cells = ["-" if v is None else f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}" for v in vals]
    rat = ["-" if vals[0] is None or not vals[i] else f"{vals[0] / vals[i]:.2f}" for i in range(1, len(tools))]
    print(f"  {label:<46}" + "".join(f"{c:>12}" for c in cells) + "  " + "".join(f"{x:>15}" for x in rat))
print(f"\n  {'':<46}" + "".join(f"{names[t]:>12}" for t in tools) + "  " + "".join(f"{'St/' + names[t]:>15}" for t in others))
row("RSS after the warm-up, MiB (all processes)", lambda x: x["rss0"])
row("RSS at the end, MiB (all processes)", lambda x: x["rss1"])
row("RSS at the end, MiB (main process)", lambda x: x["main1"])
row(f"CPU seconds per minute ({T / 60:.0f} min)", lambda x: x["cpu"])
row(f"CPU per scrape, ms ({n_scrapes} back to back)", lambda x: x["raw"])
row("CPU per scrape, ms, net of background", lambda x: x["net"])
row("history growth over the run, MB/day", lambda x: x["hist"] and x["hist"][0] / 1e6)
row("history after a clean stop, MB/day of running", lambda x: x["hist"] and x["hist"][1] / 1e6)
row("samples per scrape", lambda x: x["samples"])
row("scrape duration, ms (Prometheus, via ssh -L)", lambda x: x["dur"])
row("bytes per scrape (gzip)", lambda x: x["bytes"])
print("\n  node_exp: prometheus-node-exporter as Debian builds it (systemd collector on);"
      " node_exp-sd: the same with --no-collector.systemd")
for t in tools:
    print(f"  {names[t]}: {int(r[t]['ok'])}/{int(r[t]['total'])} scrapes up; processes at the end: {' '.join(r[t]['procs'])}")
print(f"  Steward's collectors: {open(f'{w}/steward.collectors').read().strip()}")
print(f"  node_exp's collectors: {open(f'{w}/node-exporter.collectors').read().strip()}")
print(f"  node_exp-sd's collectors: {open(f'{w}/node-exporter-sd.collectors').read().strip()}")
conf, sec = {}, None
for line in open(f"{w}/netdata.conf"):
    l = line.strip()
    if l.startswith("[") and l.endswith("]"):
        sec = l[1:-1]
    elif sec and " = " in l:
        k, v = l.lstrip("#").strip().split(" = ", 1)
        conf.setdefault((sec, k), v)
every = conf.get(("db", "update every"), conf.get(("global", "update every"), "?"))
plugins = [k for (s, k), v in conf.items() if s == "plugins" and v == "yes" and not k.startswith("enable running")]
print(f"  Netdata: update every {every} s, db mode {conf.get(('db', 'mode'), conf.get(('global', 'memory mode'), '?'))}, "
      f"storage tiers {conf.get(('db', 'storage tiers'), '?')}, ml {conf.get(('ml', 'enabled'), 'not built')}; plugins enabled in netdata.conf: {', '.join(plugins)}")
print(f"  history on disk after the stop: Steward {r['steward']['hist'][2]} B, Netdata's dbengine {r['netdata']['hist'][2]} B")
print("  " + open(f"{w}/history.ls").read().strip().replace("\n", "\n  "))
print("\ntargets (issue 9)")
s = r["steward"]
verdict = lambda ok: "met" if ok else "NOT met"
srss = max(s["rss0"], s["rss1"])
for t in ("node_exporter", "node_exporter_sd"):
    n = r[t]
    nrss = max(n["rss0"], n["rss1"])
    print(f"  RSS at most {names[t]}'s:            {srss:6.1f} MiB vs {nrss:6.1f} MiB   {verdict(srss <= nrss)}")
    print(f"  CPU per minute at most {names[t]}'s: {s['cpu']:6.3f} s vs {n['cpu']:6.3f} s     {verdict(s['cpu'] <= n['cpu'])}")
# The history's stated bound (internal/agent/monitor/history/doc.go): the
# log holds the raw block being filled as records of about 10 bytes a sample
# (5 KB a collection of 500 series) until the block is sealed and
# compressed (2.3 bytes a sample), so a run shorter than the block (1 h)
# sees the log only.
series = s["samples"]
per_sample = (end["history"]["steward"] - start["history"]["steward"]) / (T / 10) / series
print(f"  history within the stated bound:     {per_sample:.1f} bytes a sample over the run ({series:.0f} a collection) vs about 10 "
      f"in the log   {verdict(per_sample <= 10.5)}")
print(f"  (the monitoring guide's figures for sealed blocks: 15.4 MB/day for 500 series, about 221 MiB steady, a 512 MiB cap;"
      f" at {series:.0f} series that is {15.4 * series / 500:.1f} MB/day, seen only past the hour)")
PY
