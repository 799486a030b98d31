#!/usr/bin/env bash
# Benchmark: breach to notification, Steward's on-host alerting against
# Prometheus + Alertmanager, on one fleet host and the same breach. The
# script flips a textfile metric (bench_breach, node_exporter's textfile
# format, /var/lib/steward/textfile/bench.prom) from 0 to 1 on the host and
# records the time on the host (the fleet's containers share this machine's
# clock); one webhook receiver on the bridge address records when each
# notification arrives. The breach is seen by:
#   - Steward at a 10 s interval: two steward_alert_rule (bench_breach > 0,
#     for = 0 and for = 30s) sending to a webhook steward_notification_channel;
#   - Prometheus scraping the agent's /metrics (through an ssh -L tunnel to
#     its loopback listener) with the same two rules, each Prometheus with an
#     Alertmanager sending to the same receiver: once at their defaults
#     (scrape and evaluation 1m, group_wait 30s), once tuned (10 s scrape and
#     evaluation, group_wait 0s).
# Every case runs RUNS times (default 5), all six in the same run. Between
# runs the metric goes back to 0 and the script waits for Steward's resolve.
# Each run's series carries its own label (run="N"), so Alertmanager starts
# a new group for it (group_by ['...']): a resolved alert's group waits for
# group_interval (5m) before it is flushed, and an alert joining it would be
# held that long, which would measure the previous run, not this one.
# Prints each run, the medians, the ratios, and whether Steward met its
# target (interval + for + 2 s) in every run; exits 1 when it did not.
#
#   flock -o /run/steward-fleet.lock bench/alert.sh
#   RUNS=2 BENCH_HOST=h2 bench/alert.sh
#
# It takes the host it uses as it finds it (Steward's files and service) and
# puts it back when it ends, however it ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-5}
state=${FLEET_STATE:-/var/lib/steward-fleet}
fleet_json=$state/fleet.json
tf=${TERRAFORM:-$(go env GOPATH)/bin/terraform}
interval=10 for30=30
for t in prometheus prometheus-alertmanager ssh python3 "$tf"; do
  command -v "$t" >/dev/null || { echo "needs $t (make deps)" >&2; exit 1; }
done
[[ -x $root/bin/terraform-provider-steward ]] || make -C "$root" build >/dev/null
[[ -e /run/steward-fleet.ready ]] || { echo "the fleet is not up (/run/steward-fleet.ready)" >&2; exit 1; }

field() { python3 -c 'import json,sys; f=json.load(open(sys.argv[1])); h=[h for h in f["hosts"] if h["name"]==sys.argv[2] or not sys.argv[2]][0]; print(f[sys.argv[3]] if sys.argv[3] in f else h[sys.argv[3]])' "$fleet_json" "${BENCH_HOST:-}" "$1"; }
name=$(field name) addr=$(field address) host_key=$(field host_key) machine_id=$(field machine_id)
bridge=$(field bridge_address) key=$(field private_key_file)
work=$(mktemp -d)
printf '%s %s\n' "$addr" "$host_key" >"$work/known_hosts"
sshopts=(-q -o BatchMode=yes -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$work/known_hosts" -i "$key")
on_host() { ssh "${sshopts[@]}" "root@$addr" "$@"; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# What Steward has on the host now, to put back at the end.
paths="etc/steward usr/local/lib/steward var/lib/steward var/log/steward etc/systemd/system/steward-agent.service etc/systemd/system/steward-agent.service.d"
was_active=$(on_host 'systemctl is-active steward-agent 2>/dev/null || true')
was_enabled=$(on_host 'systemctl is-enabled steward-agent 2>/dev/null || true')
on_host "cd / && tar -czf - --ignore-failed-read \$(for p in $paths; do [ -e \$p ] && echo \$p; done) 2>/dev/null" >"$work/host-before.tgz" || true
pids=()
cleanup() {
  local rc=$?
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  (cd "$work" && timeout 120 "$tf" destroy -auto-approve -no-color -input=false >destroy.log 2>&1)
  on_host "systemctl disable --now steward-agent >/dev/null 2>&1; cd / && rm -rf $paths; systemctl daemon-reload"
  if [[ -s $work/host-before.tgz ]] && tar -tzf "$work/host-before.tgz" >/dev/null 2>&1 && [[ -n $(tar -tzf "$work/host-before.tgz") ]]; then
    on_host 'cd / && tar -xzpf -' <"$work/host-before.tgz"
    on_host 'systemctl daemon-reload'
  fi
  [[ $was_enabled == enabled ]] && on_host 'systemctl enable steward-agent >/dev/null 2>&1'
  [[ $was_active == active ]] && on_host 'systemctl start steward-agent'
  cd / && rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The receiver: one JSON line per alert in each notification, with the time
# it arrived and the path it came to (/steward, /am-default, /am-tuned).
cat >"$work/receiver.py" <<'PY'
import http.server, json, sys, time
log = open(sys.argv[3], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        t = time.time()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        for a in body.get("alerts", []):
            log.write(json.dumps({"t": t, "path": self.path, "status": a.get("status"),
                                  "alertname": a.get("labels", {}).get("alertname"), "run": a.get("labels", {}).get("run")}) + "\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer((sys.argv[1], 0), H)
open(sys.argv[2], "w").write(str(srv.server_address[1]))
srv.serve_forever()
PY
: >"$work/arrivals.jsonl"
python3 "$work/receiver.py" "$bridge" "$work/receiver.port" "$work/arrivals.jsonl" & pids+=($!)
for _ in $(seq 50); do [[ -s $work/receiver.port ]] && break; sleep 0.1; done
hook="http://$bridge:$(cat "$work/receiver.port")"

# Prometheus and Alertmanager, defaults and tuned, on loopback ports of their own.
tunnel=$(freeport)
cat >"$work/rules.yml" <<'YML'
groups:
  - name: bench
    rules:
      - alert: bench-for0
        expr: bench_breach > 0
      - alert: bench-for30s
        expr: bench_breach > 0
        for: 30s
YML
for setting in default tuned; do
  am=$(freeport) prom=$(freeport)
  mkdir -p "$work/$setting"
  { echo "route:"; echo "  receiver: hook"; echo "  group_by: ['...']"
    [[ $setting == tuned ]] && echo "  group_wait: 0s"
    echo "receivers:"; echo "  - name: hook"; echo "    webhook_configs: [{ url: '$hook/am-$setting' }]"; } >"$work/$setting/am.yml"
  { [[ $setting == tuned ]] && printf 'global:\n  scrape_interval: %ss\n  evaluation_interval: %ss\n' "$interval" "$interval"
    echo "rule_files: [$work/rules.yml]"
    echo "alerting: { alertmanagers: [{ static_configs: [{ targets: ['127.0.0.1:$am'] }] }] }"
    echo "scrape_configs: [{ job_name: steward, static_configs: [{ targets: ['127.0.0.1:$tunnel'] }] }]"; } >"$work/$setting/prometheus.yml"
  prometheus-alertmanager --config.file="$work/$setting/am.yml" --storage.path="$work/$setting/am" \
    --web.listen-address="127.0.0.1:$am" --cluster.listen-address= >"$work/$setting/am.log" 2>&1 & pids+=($!)
  prometheus --config.file="$work/$setting/prometheus.yml" --storage.tsdb.path="$work/$setting/tsdb" \
    --web.listen-address="127.0.0.1:$prom" >"$work/$setting/prometheus.log" 2>&1 & pids+=($!)
  echo "$prom" >"$work/$setting/prom.port"
done

# Steward on the host, through the provider as `make build` left it.
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "stewardhq/steward" = "$root/bin"
  }
  direct {}
}
RC
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
  monitoring = { interval = "${interval}s" }
}
resource "steward_notification_channel" "hook" {
  host      = steward_host.h.host_connection
  name      = "bench"
  type      = "webhook"
  webhook   = { url = "$hook/steward" }
  retry_min = "1s"
  retry_max = "5s"
}
resource "steward_alert_rule" "for0" {
  host      = steward_host.h.host_connection
  name      = "bench-for0"
  metric    = "bench_breach"
  op        = ">"
  threshold = 0
  channels  = [steward_notification_channel.hook.name]
}
resource "steward_alert_rule" "for30s" {
  host      = steward_host.h.host_connection
  name      = "bench-for30s"
  metric    = "bench_breach"
  op        = ">"
  threshold = 0
  for       = "${for30}s"
  channels  = [steward_notification_channel.hook.name]
}
TF
# set_value RUN VALUE writes the textfile atomically and prints the host's
# time right after the rename, when the breach exists.
set_value() {
  on_host "set -e; d=/var/lib/steward/textfile; mkdir -p \$d; printf '# TYPE bench_breach gauge\nbench_breach{run=\"$1\"} $2\n' >\$d/.bench.tmp; mv \$d/.bench.tmp \$d/bench.prom; date +%s.%N"
}
set_value 0 0 >/dev/null
echo "deploying the agent, the channel and the rules to $name ($addr)..."
(cd "$work" && "$tf" apply -auto-approve -no-color -input=false >apply.log 2>&1) || { tail -40 "$work/apply.log"; exit 1; }
ssh "${sshopts[@]}" -N -o ExitOnForwardFailure=yes -o ServerAliveInterval=5 -L "127.0.0.1:$tunnel:127.0.0.1:9276" "root@$addr" & pids+=($!)

# Both Prometheus servers up and scraping the agent before the first breach.
prom_query() { # setting query → the result's first value, or nothing
  curl -fsS "http://127.0.0.1:$(cat "$work/$1/prom.port")/api/v1/query" --data-urlencode "query=$2" 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}
for setting in default tuned; do
  for i in $(seq 100); do
    [[ $(prom_query "$setting" 'up{job="steward"}') == 1 && -n $(prom_query "$setting" 'bench_breach') ]] && break
    ((i < 100)) || { tail -20 "$work/$setting/prometheus.log"; echo "prometheus ($setting) does not scrape the agent" >&2; exit 1; }
    sleep 2
  done
done

# arrival PATH ALERTNAME RUN STATUS prints when the first such alert came, or nothing.
arrival() {
  python3 - "$work/arrivals.jsonl" "$@" <<'PY'
import json, sys
f, path, name, run, status = sys.argv[1:]
for l in open(f):
    a = json.loads(l)
    if a["path"] == path and a["alertname"] == name and a["run"] == run and a["status"] == status:
        print(a["t"]); break
PY
}
cases=("/steward bench-for0" "/steward bench-for30s" "/am-default bench-for0" "/am-default bench-for30s" "/am-tuned bench-for0" "/am-tuned bench-for30s")
: >"$work/results.txt"
for ((r = 1; r <= runs; r++)); do
  set_value "$r" 0 >/dev/null
  # A random phase against the collection, scrape and evaluation ticks.
  sleep "$((interval + RANDOM % interval))"
  t0=$(set_value "$r" 1)
  deadline=$(($(date +%s) + 420))
  for c in "${cases[@]}"; do
    set -- $c
    until t=$(arrival "$1" "$2" "$r" firing) && [[ -n $t ]]; do
      (($(date +%s) < deadline)) || { echo "run $r: no firing notification of $2 at $1 within 420 s" >&2; exit 1; }
      sleep 0.5
    done
    echo "$r $1 $2 $(python3 -c "print(f'{$t - $t0:.2f}')")" >>"$work/results.txt"
  done
  printf 'run %d:' "$r"; awk -v r="$r" '$1 == r {printf "  %s%s %s s", $2, ($3 == "bench-for0" ? " for=0" : " for=30s"), $4}' "$work/results.txt"; echo
  # Reset: back to 0, and Steward's resolves of both rules.
  set_value "$r" 0 >/dev/null
  for rule in bench-for0 bench-for30s; do
    for i in $(seq 120); do
      [[ -n $(arrival /steward "$rule" "$r" resolved) ]] && break
      ((i < 120)) || { echo "run $r: no resolve of $rule from Steward within 60 s" >&2; exit 1; }
      sleep 0.5
    done
  done
done

echo
echo "Breach to notification on $name, $runs runs (Steward at a ${interval}s interval; medians)"
python3 - "$work/results.txt" "$interval" "$for30" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
interval, for30 = int(sys.argv[2]), int(sys.argv[3])
d = {}
for r, path, rule, secs in rows:
    d.setdefault((path, rule), []).append(float(secs))
names = {"/steward": "Steward", "/am-default": "Prometheus + Alertmanager, defaults", "/am-tuned": "Prometheus + Alertmanager, tuned"}
print(f"{'pipeline':<38} {'rule':<9} {'median s':>9} {'min s':>7} {'max s':>7}")
for path in names:
    for rule in ("bench-for0", "bench-for30s"):
        v = d[(path, rule)]
        print(f"{names[path]:<38} {'for=0' if rule == 'bench-for0' else 'for=30s':<9} {statistics.median(v):>9.2f} {min(v):>7.2f} {max(v):>7.2f}")
print()
ok = True
for rule, f in (("bench-for0", 0), ("bench-for30s", for30)):
    s = statistics.median(d[("/steward", rule)])
    for path in ("/am-default", "/am-tuned"):
        print(f"{names[path]} / Steward ({'for=0' if f == 0 else 'for=30s'}): {statistics.median(d[(path, rule)]) / s:.1f}x")
    target = interval + f + 2
    worst = max(d[("/steward", rule)])
    met = worst <= target
    ok &= met
    print(f"Steward {'for=0' if f == 0 else 'for=30s'}: every run within {target} s (interval + for + 2 s)? {'yes' if met else 'NO'} (worst {worst:.2f} s)")
# Both Steward rules see the breach at the same collection, so their gap is
# how long `for` took: 30 s when it fires at the third collection after, 40 s
# when it needs a fourth.
gaps = [b - a for a, b in zip(d[("/steward", "bench-for0")], d[("/steward", "bench-for30s")])]
late = sum(g > for30 + interval / 2 for g in gaps)
print(f"Steward for=30s after for=0, per run: {' '.join(f'{g:.1f}' for g in gaps)} s; {late} of {len(gaps)} runs fired one collection after `for` had passed")
sys.exit(0 if ok else 1)
PY
