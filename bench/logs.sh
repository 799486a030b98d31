#!/usr/bin/env bash
# Benchmark: log forwarding, Steward's agent against rsyslog's own imjournal
# (and imfile) + omfwd, on one fleet host, with the same lines and the same
# receiver, side by side in one run:
#   - Steward's agent, deployed by `terraform apply` of a steward_host and
#     two steward_log_forward: "benchj" (the journal, identifiers = [the
#     run's identifier]) and "benchf" (one log file), TCP with octet
#     counting to the receiver;
#   - rsyslogd (Debian's package, installed on the host from a temporary apt
#     repository served on the fleet's bridge, its services kept from
#     starting and disabled) with only imjournal (its identifier picked by a
#     rule on $programname) or only imfile, and omfwd (TCP, octet counting,
#     RFC 5424) to the same receiver; for the journal twice: at imjournal's
#     defaults (its state file written every 10 entries) and tuned, with
#     persistStateInterval = IMJOURNAL_PERSIST (default 10000);
#   - the receiver: an rsyslogd on this machine on the bridge address
#     (imtcp, each message's text written to a file, as the acceptance
#     tests start it), started afresh for every run, with a watcher that
#     records when the first and the N-th line arrived.
# N lines (default 200000) are written once, while neither tool runs: to
# the journal under a new identifier (by systemd-run, 10000 a unit)
# and to a data file copied to the followed path before each file run.
# Writing them is not measured. Each run then starts one tool at a time
# from the same point: Steward with its saved position set to the journal
# cursor before the lines (the file: no saved position, start_at =
# "beginning"), rsyslog with its imjournal state file holding the same
# cursor (imfile: a new work directory, so from the file's first byte).
# Measured per run, the clocks of this machine and of the fleet's
# containers being the same:
#   - lines per second from the tool's start (systemctl start, systemd-run)
#     until the receiver has all N lines, and from the first line received
#     to the last;
#   - CPU seconds per 100k lines of the forwarding process and its
#     descendants (Steward: the agent daemon and its journalctl; utime and
#     stime from the host's /proc/PID/stat) from their start until then.
#     Steward's figure is the whole agent's: its start and its monitoring
#     collections are counted with the forwarding.
# Every case runs RUNS times (default 3), the tools in alternating
# order; every run checks that all N lines arrived. Prints each run, the
# medians, the ratios Steward/rsyslog and the target of issue 9 (at least
# as fast at no more CPU); exits 1 when the journal's target against
# rsyslog at its defaults is not met.
# The host is left as it was found however the script ends: rsyslog and
# what it brought are purged, the steward_host destroyed, the files
# removed. The N entries stay in the host's journal, as any log does.
#
#   bench/logs.sh                  (takes the fleet lock itself; ~2 minutes)
#   N=50000 RUNS=1 bench/logs.sh   (while developing)
#   FILE=0 bench/logs.sh           (the journal only)
#   BENCH_HOST=h2 bench/logs.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${FLEET_STATE:-/var/lib/steward-fleet}
if [[ -z ${STEWARD_BENCH_LOCKED:-} ]]; then
  until [[ -e /run/steward-fleet.ready ]]; do echo "waiting for /run/steward-fleet.ready..."; sleep 10; done
  exec flock -o /run/steward-fleet.lock env STEWARD_BENCH_LOCKED=1 bash "$0" "$@"
fi
n=${N:-200000} runs=${RUNS:-3} with_file=${FILE:-1} persist=${IMJOURNAL_PERSIST:-10000}
tf=${TERRAFORM:-$(go env GOPATH)/bin/terraform}
for t in rsyslogd:rsyslog apt-ftparchive:apt-utils; do
  command -v "${t%%:*}" >/dev/null || PATH=$PATH:/usr/sbin command -v "${t%%:*}" >/dev/null ||
    { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${t##*:}" >/dev/null; }
done
rsyslogd=$(PATH=$PATH:/usr/sbin command -v rsyslogd)
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
free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"; }

packages=rsyslog
bench_list=/etc/apt/sources.list.d/steward-bench-logs.list
hostdir=/var/tmp/steward-bench-logs     # the lines and rsyslog's work directories
logfile=/var/log/steward-bench-logs.log # the file both follow
ident=benchlog-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')

# cpu UNIT NAME prints the CPU ticks (utime+stime+cutime+cstime) of the
# unit's main process (as NAME) and of every descendant (by process name),
# as JSON.
cpu_py=$(cat <<'PY'
import json, os, subprocess, sys
pid = int(subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", sys.argv[1]], capture_output=True, text=True).stdout.strip() or 0)
procs = {}
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            s = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        f = s[s.rindex(")") + 2:].split()
        # Fields 4 (ppid) and 14-17 (utime stime cutime cstime).
        procs[int(p)] = (int(f[1]), sum(int(x) for x in f[11:15]), s[s.index("(") + 1:s.rindex(")")])
out, todo = {"hz": os.sysconf("SC_CLK_TCK"), "pid": pid, "ticks": {}}, [pid] if pid in procs else []
while todo:
    q = todo.pop()
    comm = sys.argv[2] if q == pid else procs[q][2]
    out["ticks"][comm] = out["ticks"].get(comm, 0) + procs[q][1]
    todo += [c for c, v in procs.items() if v[0] == q]
print(json.dumps(out))
PY
)
cpu() { onhost python3 - "$1" "$2" <<<"$cpu_py"; }

# What the host holds before anything is installed, to put it back after.
onhost "dpkg-query -W -f='\${Package}\n'" | sort >"$work/packages.before"
onhost "cut -d: -f1 /etc/passwd" | sort >"$work/users.before"
onhost "cut -d: -f1 /etc/group" | sort >"$work/groups.before"
host_files() {
  onhost "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp \
    -o -path /var/log/journal -o -path /var/lib/systemd -o -path /var/cache/debconf -o -path /var/cache/apt -o -path /var/lib/apt/lists \
    -o -path /var/cache/ldconfig \\) -prune -o -print" | grep -v -- '-old$' | sort
}
host_files >"$work/files.before"
if onhost "test -e /usr/local/lib/steward || test -e /etc/steward || systemctl cat steward-agent.service >/dev/null 2>&1"; then
  echo "$name has a Steward agent installed; pick a host without one (BENCH_HOST=)" >&2
  rm -rf "$work"; exit 1
fi
if onhost "test -e /usr/sbin/policy-rc.d || test -e $bench_list || test -e /usr/sbin/rsyslogd || test -e $hostdir || test -e $logfile"; then
  echo "$name already has a policy-rc.d, $bench_list, rsyslogd, $hostdir or $logfile; pick another host (BENCH_HOST=)" >&2
  rm -rf "$work"; exit 1
fi

repo_pid= rcv_pid= watch_pid= applied=0 stash=0
stop_receiver() {
  [[ -n $rcv_pid ]] && kill "$rcv_pid" 2>/dev/null && wait "$rcv_pid" 2>/dev/null
  rcv_pid=
}
cleanup() {
  set +e
  [[ -n $watch_pid ]] && kill "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
  echo "cleaning up $name..."
  onhost "systemctl stop bench-rsyslog.service; systemctl reset-failed bench-rsyslog.service 'bench-logs-gen-*'" >/dev/null 2>&1
  if ((applied)); then
    (cd "$work" && "$tf" destroy -auto-approve -no-color -input=false -refresh=false >destroy.log 2>&1) || {
      tail -20 "$work/destroy.log"
      echo "terraform destroy failed; removing the agent by hand"
      onhost "systemctl disable --now steward-agent >/dev/null 2>&1; rm -rf /usr/local/lib/steward /etc/steward /etc/systemd/system/steward-agent.service \
        /etc/systemd/system/steward-agent.service.d /var/lib/steward /var/log/steward; systemctl daemon-reload"
    }
  fi
  stop_receiver
  ((stash)) && onhost "rm -rf /var/lib/steward /var/log/steward && tar -xpf - -C /" <"$work/steward-state.tar"
  onhost "dpkg-query -W -f='\${Package}\n'" | sort >"$work/packages.after"
  local extra
  extra=$(comm -13 "$work/packages.before" "$work/packages.after" | tr '\n' ' ')
  [[ -n ${extra// /} ]] && onhost "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $extra" >"$work/purge.log" 2>&1
  onhost "cut -d: -f1 /etc/passwd" | sort | comm -13 "$work/users.before" - | while read -r u; do onhost "userdel $u"; done
  onhost "cut -d: -f1 /etc/group" | sort | comm -13 "$work/groups.before" - | while read -r g; do onhost "groupdel $g"; done
  onhost "rm -rf $hostdir $logfile $bench_list /var/lib/apt/lists/*${bridge}*${repo_port:-0}_* /usr/sbin/policy-rc.d; \
    cd /var/cache/apt/archives && rm -f $(cd "$work/repo" 2>/dev/null && echo *.deb)"
  grep -qx /var/lib/apt/extended_states "$work/files.before" || onhost "rm -f /var/lib/apt/extended_states"
  # apt's logs of the install, where the host had none.
  for f in /var/log/apt/eipp.log.xz /var/log/apt/history.log /var/log/apt/term.log; do
    grep -qx "$f" "$work/files.before" || onhost "rm -f $f"
  done
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
# this machine, so the agent starts with no saved positions of its own.
if onhost "test -e /var/lib/steward || test -e /var/log/steward"; then
  onhost "tar -cpf - -C / \$(cd / && ls -d var/lib/steward var/log/steward 2>/dev/null) && rm -rf /var/lib/steward /var/log/steward" >"$work/steward-state.tar"
  stash=1
fi

# rsyslog and what the host lacks of its Depends and Pre-Depends, from this
# machine's apt, as a repository served on the bridge.
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
# Its units stay stopped and disabled: no syslog.socket, so journald
# forwards nothing to it, and only the bench's rsyslogd runs.
onhost "set -e; echo 'deb [trusted=yes] http://$bridge:$repo_port/ ./' >$bench_list
  apt-get update -q -o Dir::Etc::sourcelist=$bench_list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >/dev/null
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages >/dev/null
  rm -f /usr/sbin/policy-rc.d
  systemctl disable --now rsyslog.service syslog.socket >/dev/null 2>&1
  dpkg-query -W -f='\${Package} \${Version}\n' rsyslog"

# The receiver, on a port of the bridge that stays the same for every run.
rcv_port=$(free_port "$bridge")
mkdir -p "$work/rcv"
cat >"$work/rcv/rsyslog.conf" <<CONF
global(workDirectory="$work/rcv")
module(load="imtcp")
input(type="imtcp" address="$bridge" port="$rcv_port")
template(name="seen" type="string" string="%msg%\n")
*.* action(type="omfile" file="$work/rcv/received.log" template="seen")
CONF
start_receiver() {
  stop_receiver
  rm -f "$work/rcv/received.log"
  "$rsyslogd" -n -f "$work/rcv/rsyslog.conf" -i "$work/rcv/pid" >"$work/rcv/rsyslogd.log" 2>&1 &
  rcv_pid=$!
  python3 - "$bridge" "$rcv_port" <<'PY' || { cat "$work/rcv/rsyslogd.log"; exit 1; }
import socket, sys, time
deadline = time.time() + 15
while True:
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("the receiver does not listen")
        time.sleep(0.05)
PY
}
# The watcher reads what the receiver writes as it comes and records when
# the first and the N-th line arrived.
cat >"$work/watch.py" <<'PY'
import json, os, sys, time
path, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline, first, count, f = time.time() + 600, None, 0, None
while count < n:
    if time.time() > deadline:
        sys.exit(f"the receiver got {count} of {n} lines in 10 minutes")
    if f is None and os.path.exists(path):
        f = open(path, "rb")
    b = f.read(1 << 20) if f else b""
    if b:
        first = first or time.time()
        count += b.count(b"\n")
    else:
        time.sleep(0.002)
json.dump({"first": first, "last": time.time()}, open(out, "w"))
PY
start_receiver

echo "deploying steward_host and two steward_log_forward to $name..."
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
}
resource "steward_log_forward" "j" {
  host     = steward_host.h.host_connection
  name     = "benchj"
  start_at = "beginning"
  journal  = { identifiers = ["$ident"] }
  target   = { address = "$bridge:$rcv_port", protocol = "tcp" }
}
resource "steward_log_forward" "f" {
  host     = steward_host.h.host_connection
  name     = "benchf"
  start_at = "beginning"
  files    = [{ path = "$logfile", tag = "$ident" }]
  target   = { address = "$bridge:$rcv_port", protocol = "tcp" }
}
TF
applied=1
(cd "$work" && "$tf" apply -auto-approve -no-color -input=false >apply.log 2>&1) || { tail -30 "$work/apply.log"; exit 1; }
onhost "systemctl stop steward-agent"

# The lines, written while neither tool runs; the journal's cursor before
# them is where both start, the one of the last of them where the journal
# forwarder idles during the file runs. journald keeps at most 10000 lines
# (scaled up with its free space) of a unit per 30 s and drops the rest,
# and LogRateLimitIntervalSec= of a transient unit does not reach it here:
# each 10000 lines are a unit of their own.
echo "writing $n lines to the journal as $ident and to $hostdir/lines..."
cursor_of() { onhost "journalctl --no-pager -o export --output-fields=__CURSOR -n 1 $*" | sed -n 's/^__CURSOR=//p'; }
before=$(cursor_of)
onhost "set -e; mkdir -p $hostdir; python3 -c '
import sys
w = sys.stdout.write
for i in range(1, $n + 1):
    w(\"$ident seq=%07d payload=%s\n\" % (i, \"x\" * 40))' >$hostdir/lines
  cd $hostdir && split -l 10000 -d -a 4 lines chunk.
  for c in chunk.*; do
    systemd-run -q --wait --unit=bench-logs-gen-\${c#chunk.} -p StandardInput=file:$hostdir/\$c \
      -p StandardOutput=journal -p SyslogIdentifier=$ident /bin/cat
  done
  rm chunk.*"
for i in $(seq 120); do
  got=$(onhost "journalctl --no-pager -o cat --identifier=$ident | wc -l")
  ((got >= n)) && break
  sleep 1
done
((got == n)) || { echo "the journal holds $got of $n lines of $ident (rate limited, or too small?)" >&2; exit 1; }
after=$(cursor_of "--identifier=$ident")
[[ -n $before && -n $after ]] || { echo "no journal cursors" >&2; exit 1; }

rsyslog_conf() { # source workdir [persistStateInterval]
  echo "global(workDirectory=\"$2\")"
  if [[ $1 == journal ]]; then
    # imjournal has no filter of its own: the rule picks the identifier's
    # entries, as journalctl's --identifier does for Steward.
    echo "module(load=\"imjournal\" stateFile=\"imjournal.state\" ignorePreviousMessages=\"off\" ratelimit.interval=\"0\"${3:+ persistStateInterval=\"$3\"})"
    echo "if \$programname == \"$ident\" then {"
  else
    echo 'module(load="imfile")'
    echo "input(type=\"imfile\" file=\"$logfile\" tag=\"$ident\" ruleset=\"fwd\")"
    echo 'ruleset(name="fwd") {'
  fi
  echo "  action(type=\"omfwd\" target=\"$bridge\" port=\"$rcv_port\" protocol=\"tcp\" tcp_framing=\"octet-counted\" template=\"RSYSLOG_SyslogProtocol23Format\")"
  echo "}"
}

# measure SOURCE TOOL RUN: one run, its result in $work/results.jsonl.
positions() { # benchj's and benchf's saved positions on the host
  local j=/var/lib/steward/log_forward/benchj f=/var/lib/steward/log_forward/benchf
  echo "rm -rf $j $f; mkdir -p $j && printf '%s' '{\"version\":1,\"sources\":{\"journal\":{\"cursor\":\"$1\"}}}' >$j/positions.json && chmod 600 $j/positions.json"
}
measure() {
  local source=$1 tool=$2 run=$3 prep unit main start
  if [[ $source == journal ]]; then prep="rm -f $logfile"; else prep="cp $hostdir/lines $logfile"; fi
  if [[ $tool == steward ]]; then
    unit=steward-agent.service main=steward-agent
    if [[ $source == journal ]]; then prep+="; $(positions "$before")"; else prep+="; $(positions "$after")"; fi
    start="systemctl start steward-agent"
  else
    unit=bench-rsyslog.service main=rsyslogd
    local wd=$hostdir/$tool-$source-$run
    prep+="; rm -rf $wd && mkdir -p $wd && printf '%s' '$before' >$wd/imjournal.state && cat >$wd/rsyslog.conf"
    start="systemd-run -q --unit=bench-rsyslog $rsyslogd -n -f $wd/rsyslog.conf -i $wd/pid"
  fi
  local every=
  [[ $tool == rsyslog-tuned ]] && every=$persist
  rsyslog_conf "$source" "$hostdir/$tool-$source-$run" $every | onhost "$prep"
  start_receiver
  python3 "$work/watch.py" "$work/rcv/received.log" "$n" "$work/watch.json" &
  watch_pid=$!
  local t0
  t0=$(onhost "date +%s.%N; $start")
  wait "$watch_pid" || exit 1
  watch_pid=
  cpu "$unit" "$main" >"$work/cpu.json"
  onhost "systemctl stop $unit"
  # Every line arrived (the count could include a line sent twice after a
  # reconnect, in place of one missing).
  python3 - "$work" "$n" "$source" "$tool" "$run" "$t0" <<'PY' >>"$work/results.jsonl"
import json, re, sys
w, n, source, tool, run, t0 = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
seen = [0] * (n + 1)
for line in open(f"{w}/rcv/received.log", "rb"):
    m = re.search(rb" seq=(\d+) payload=x{40}$", line.rstrip(b"\n"))
    if m and int(m[1]) <= n:
        seen[int(m[1])] += 1
missing = sum(1 for c in seen[1:] if c == 0)
if missing:
    sys.exit(f"{tool} {source} run {run}: {missing} of {n} lines missing at the receiver")
t, c = json.load(open(f"{w}/watch.json")), json.load(open(f"{w}/cpu.json"))
print(json.dumps({"source": source, "tool": tool, "run": run, "n": n, "t0": t0, "first": t["first"], "last": t["last"],
                  "dups": sum(seen) - n, "cpu": {k: v / c["hz"] for k, v in c["ticks"].items()}}))
PY
  python3 - "$work/results.jsonl" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readlines()[-1])
each = " ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items())
print(f"  {r['source']:<8}{r['tool']:<14}run {r['run']}: {r['n'] / (r['last'] - r['t0']):8.0f} lines/s, {sum(r['cpu'].values()):.2f} s CPU ({each})")
PY
}

sources=(journal)
((with_file)) && sources+=(file)
echo "measuring: ${sources[*]}, $runs runs each, $n lines"
: >"$work/results.jsonl"
for run in $(seq "$runs"); do
  for source in "${sources[@]}"; do
    order=(steward rsyslog)
    [[ $source == journal ]] && order+=(rsyslog-tuned)
    ((run % 2)) || order=($(printf '%s\n' "${order[@]}" | tac))
    for tool in "${order[@]}"; do measure "$source" "$tool" "$run"; done
  done
done
stop_receiver

echo
echo "Forwarding $n lines to a receiver on the bridge, on $name ($(onhost nproc) cores shared with the fleet and this machine), $runs runs"
python3 - "$work/results.jsonl" "$persist" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
med = statistics.median
def m(source, tool, f):
    v = [f(r) for r in rs if r["source"] == source and r["tool"] == tool]
    return med(v) if v else None
rate = lambda r: r["n"] / (r["last"] - r["t0"])
steady = lambda r: r["n"] / (r["last"] - r["first"])
cpu = lambda r: sum(r["cpu"].values()) / r["n"] * 1e5
jctl = lambda r: r["cpu"].get("journalctl", 0) / r["n"] * 1e5
peers = ["rsyslog", "rsyslog-tuned"]
print(f"\n  {'':<46}{'Steward':>10}{'rsyslog':>10}{'tuned':>10}{'St/rsyslog':>12}{'St/tuned':>10}")
for source in ("journal", "file"):
    if m(source, "steward", rate) is None:
        continue
    rows = [("lines/s from the start (median)", rate), ("lines/s, first line to last", steady),
            ("CPU s per 100k lines (median)", cpu)]
    if source == "journal":
        rows.append(("  of which journalctl", jctl))
    for label, f in rows:
        fmt = (lambda x: f"{x:>10.0f}") if "lines/s" in label else (lambda x: f"{x:>10.3f}")
        s = m(source, "steward", f)
        vals = [m(source, t, f) for t in peers]
        line = f"  {source + ': ' + label:<46}{fmt(s)}"
        if f is jctl:
            print(line)
            continue
        line += "".join(fmt(v) if v is not None else f"{'-':>10}" for v in vals)
        line += "".join(f"{s / v:>{w}.2f}" if v else f"{'-':>{w}}" for v, w in zip(vals, (12, 10)))
        print(line)
    print(f"  {source}: lines received twice, all runs: {sum(r['dups'] for r in rs if r['source'] == source)}")
print(f"\n  rsyslog: imjournal at its defaults (its state file written every 10 entries);"
      f" tuned: persistStateInterval={sys.argv[2]}")
print("  Steward's CPU is the whole agent's from its start (its monitoring too) and its journalctl's")
print("\n  per run (lines/s from the start, CPU s per 100k lines, CPU s per process):")
for r in rs:
    print(f"    {r['source']:<8}{r['tool']:<14}run {r['run']}: {rate(r):8.0f} lines/s  {cpu(r):.3f} s  "
          + " ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items()))
print("\ntarget (issue 9): journald lines forwarded at least as fast as rsyslog's imjournal+omfwd, at no more CPU")
ok = True
for source in ("journal", "file"):
    for t in peers:
        if m(source, "steward", rate) is None or m(source, t, rate) is None:
            continue
        fast = m(source, "steward", rate) >= m(source, t, rate)
        lean = m(source, "steward", cpu) <= m(source, t, cpu)
        v = lambda x: "met" if x else "NOT met"
        print(f"  {source}, against {t}: at least as fast: {v(fast)}; no more CPU: {v(lean)}")
        if source == "journal" and t == "rsyslog":
            ok = fast and lean
sys.exit(0 if ok else 1)
PY
