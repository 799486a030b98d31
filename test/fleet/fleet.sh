#!/usr/bin/env bash
# fleet.sh — boots and tears down Steward's local fleet of real Debian test hosts.
#
#   fleet.sh up N     boot N hosts (h1..hN); recovers from a killed earlier run first
#   fleet.sh down     stop every host; leaves no process, mount, netns, bridge or veth
#   fleet.sh status   print the fleet description and which hosts answer
#   fleet.sh link hN down|up   cut or restore a host's network link (fault tests)
#   fleet.sh stop hN | start hN  kill a host (power cut) / boot it again, same disk
#   fleet.sh swap hA hB        exchange two hosts' addresses (fault tests)
#   fleet.sh fill hN DIR [KB] | unfill hN DIR   leave only KB free under DIR (disk full)
#   fleet.sh rootfs   build (or reuse) the cached root file system only
#   fleet.sh memory   print each running host's memory (PSS of its processes plus its tmpfs)
#
# Each host is a bookworm root file system booted with systemd-nspawn on an overlay,
# in its own network namespace joined to one bridge, with CAP_NET_ADMIN in that
# namespace only, so a host runs its own firewall (nftables) as a real one does
# and cannot touch this machine's. The description of the fleet
# (addresses, users, key paths, host keys) is written to $FLEET_STATE/fleet.json.
set -euo pipefail

FLEET_STATE=${FLEET_STATE:-/var/lib/steward-fleet}
FLEET_CACHE=${FLEET_CACHE:-/var/cache/steward-fleet}
FLEET_MIRROR=${FLEET_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
FLEET_MIRROR=${FLEET_MIRROR:-http://deb.debian.org/debian}
BRIDGE=stwbr0
SUBNET=10.213.7              # /24 used only on this machine's bridge
GATEWAY=$SUBNET.1
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,sudo,iproute2,procps,python3,python3-apt,ca-certificates,nftables,apt-utils,cron,libpam-pwquality
REPO_PACKAGES="hello tree figlet"  # served to the hosts by the fleet's own apt repository
REPO_PORT=8765
ROOTFS_VERSION=2            # bump when the rootfs customisation below changes
# Hosts prepared and booted at once. Booting all of a large fleet at once
# starves each boot of CPU until the first ones time out; in batches, the
# boot time grows with the host count and each host's wait stays short.
BOOT_BATCH=${FLEET_BOOT_BATCH:-10}
SSH_WAIT=${FLEET_SSH_WAIT:-60}  # seconds a booting host gets to answer ssh

log() { printf 'fleet: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

rootfs_dir() {
  local key
  key=$(printf '%s %s %s' "$PACKAGES" "$ROOTFS_VERSION" "$(uname -m)" | sha256sum | cut -c1-16)
  echo "$FLEET_CACHE/rootfs-$key"
}

need_tools() {
  local missing=()
  for t in debootstrap systemd-nspawn ip ssh-keygen nsenter; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  if ((${#missing[@]})); then
    log "installing host tools (missing: ${missing[*]})"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap systemd-container iproute2 openssh-client util-linux >/dev/null
  fi
}

build_rootfs() {
  local dir tmp
  dir=$(rootfs_dir)
  [[ -f $dir/.complete ]] && { echo "$dir"; return; }
  need_tools
  tmp="$dir.tmp"
  rm -rf "$tmp"
  mkdir -p "$FLEET_CACHE"
  log "debootstrap bookworm into $dir (once; cached)"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$tmp" "$FLEET_MIRROR" >"$FLEET_CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$FLEET_CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
  # Per-host identity comes from each host's overlay, never from the shared image.
  rm -f "$tmp"/etc/ssh/ssh_host_* "$tmp"/etc/machine-id "$tmp"/var/lib/dbus/machine-id
  : >"$tmp/etc/machine-id"
  # Units that have nothing to do in a container, or that would slow a boot down.
  for u in systemd-networkd.service systemd-resolved.service apt-daily.timer apt-daily-upgrade.timer \
           e2scrub_all.timer fstrim.timer man-db.timer dpkg-db-backup.timer systemd-timesyncd.service \
           getty@.service console-getty.service; do
    chroot "$tmp" systemctl mask "$u" >/dev/null 2>&1 || true
  done
  chroot "$tmp" systemctl enable ssh.service >/dev/null 2>&1
  chroot "$tmp" useradd -m -s /bin/bash deploy
  chroot "$tmp" useradd -m -s /bin/bash nosudo
  echo 'deploy ALL=(ALL) NOPASSWD: ALL' >"$tmp/etc/sudoers.d/deploy"
  chmod 0440 "$tmp/etc/sudoers.d/deploy"
  cat >"$tmp/etc/ssh/sshd_config.d/steward-fleet.conf" <<'CONF'
# Test fleet: key and certificate logins only; verbose enough to count connections.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
TrustedUserCAKeys /etc/ssh/steward_user_ca.pub
HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub
UseDNS no
LogLevel VERBOSE
MaxStartups 100:30:200
CONF
  # The fleet has no internet: apt points at a repository on the bridge (later issues serve it).
  rm -f "$tmp"/etc/apt/sources.list.d/*
  echo "deb [trusted=yes] http://$GATEWAY:$REPO_PORT/ ./" >"$tmp/etc/apt/sources.list"
  chroot "$tmp" apt-get clean
  touch "$tmp/.complete"
  mv "$tmp" "$dir"
  echo "$dir"
}

# A small apt repository of real .deb files, served on the bridge: the hosts'
# only package source (they have no route to the internet).
build_apt_repo() {
  local dir
  dir="$FLEET_CACHE/apt-repo-$(printf '%s' "$REPO_PACKAGES" | sha256sum | cut -c1-12)"
  if [[ ! -f $dir/Release ]]; then
    command -v apt-ftparchive >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq apt-utils >/dev/null
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    (cd "$dir.tmp" && apt-get download $REPO_PACKAGES >/dev/null 2>&1) || {
      apt-get update -qq && (cd "$dir.tmp" && apt-get download $REPO_PACKAGES >/dev/null)
    } || die "apt-get download $REPO_PACKAGES failed"
    (cd "$dir.tmp" && apt-ftparchive packages . >Packages && gzip -9nk Packages && apt-ftparchive release . >Release)
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

serve_apt_repo() {
  local dir=$1
  setsid /usr/bin/python3 -m http.server --bind "$GATEWAY" --directory "$dir" "$REPO_PORT" \
    </dev/null >"$FLEET_STATE/apt-repo.log" 2>&1 &
  echo $! >"$FLEET_STATE/apt-repo.pid"
}

make_keys() {
  local k=$FLEET_STATE/keys
  mkdir -p "$k"
  chmod 0700 "$k"
  [[ -f $k/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C steward-fleet-test -f "$k/id_ed25519"
  [[ -f $k/user_ca ]] || ssh-keygen -q -t ed25519 -N '' -C steward-fleet-user-ca -f "$k/user_ca"
  [[ -f $k/host_ca ]] || ssh-keygen -q -t ed25519 -N '' -C steward-fleet-host-ca -f "$k/host_ca"
}

host_pid() { cat "$FLEET_STATE/hosts/$1/pid" 2>/dev/null || true; }

boot_host() {
  local i=$1 rootfs=$2 name="h$1" addr="$SUBNET.$((10 + $1))"
  local hd=$FLEET_STATE/hosts/$name up=$FLEET_STATE/hosts/$name/upper k=$FLEET_STATE/keys
  mkdir -p "$up/etc/ssh" "$hd/work" "$up/root/.ssh" "$up/home/deploy/.ssh" "$up/home/nosudo/.ssh"
  # Identity: a machine-id, a hostname and host keys of its own.
  tr -d '-' </proc/sys/kernel/random/uuid >"$up/etc/machine-id"
  echo "$name" >"$up/etc/hostname"
  ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$up/etc/ssh/ssh_host_ed25519_key"
  ssh-keygen -q -t rsa -b 2048 -N '' -C "root@$name" -f "$up/etc/ssh/ssh_host_rsa_key"
  ssh-keygen -q -s "$k/host_ca" -I "$name" -h -n "$addr,$name" "$up/etc/ssh/ssh_host_ed25519_key.pub"
  cp "$k/user_ca.pub" "$up/etc/ssh/steward_user_ca.pub"
  for u in root deploy nosudo; do
    local home=/home/$u; [[ $u == root ]] && home=/root
    cp "$k/id_ed25519.pub" "$up$home/.ssh/authorized_keys"
    chmod 0700 "$up$home/.ssh"; chmod 0600 "$up$home/.ssh/authorized_keys"
  done
  local uid
  uid=$(awk -F: '$1=="deploy"{print $3}' "$rootfs/etc/passwd"); chown -R "$uid:$uid" "$up/home/deploy"
  uid=$(awk -F: '$1=="nosudo"{print $3}' "$rootfs/etc/passwd"); chown -R "$uid:$uid" "$up/home/nosudo"
  # The fleet has no routes beyond the bridge; hosts resolve nothing.
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$name" >"$up/etc/hosts"

  # Network: one namespace per host, a veth into the bridge.
  echo "$addr" >"$hd/address"
  ip netns add "stw-$name"
  ip link add "stwv-$name" type veth peer name eth0 netns "stw-$name"
  ip link set "stwv-$name" master "$BRIDGE" up
  ip -n "stw-$name" addr add "$addr/24" dev eth0
  ip -n "stw-$name" link set eth0 up
  ip -n "stw-$name" link set lo up
  ip -n "stw-$name" route add default via "$GATEWAY"

  start_container "$name" "$rootfs"
}

# cgroup_roots prints the cgroup hierarchies systemd tracks units in: the
# unified one alone, or the named systemd hierarchy and the unified one
# beside it (hybrid, as on this machine).
cgroup_roots() {
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    echo /sys/fs/cgroup
  else
    local d
    for d in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do [[ -d $d ]] && echo "$d"; done
  fi
}

# Each host runs in cgroups of its own, named for the fleet and the host.
# nspawn puts its container under the cgroup it starts in; started from one
# cgroup, every host's systemd made its units in the same one
# (/payload/system.slice/ssh.service held every host's sshd), and units of
# two hosts starting at the same moment removed each other's cgroups: the
# unit failed with 219/CGROUP, and when it was systemd-user-sessions, the
# host kept /run/nologin and refused every login but root's.
fleet_cgroup() { basename "$FLEET_STATE"; }

# start_container boots (or reboots) a prepared host on its overlay; its
# identity, disk and network namespace are kept.
start_container() {
  local name=$1 rootfs=$2 hd=$FLEET_STATE/hosts/$1 cg d
  local up=$hd/upper
  echo "$rootfs" >"$hd/rootfs"
  cg=$(fleet_cgroup)/$name
  for d in $(cgroup_roots); do mkdir -p "$d/$cg"; done
  # Boot. setsid so the container outlives this script and is killed as one group by down.
  # SYSTEMD_NSPAWN_API_VFS_WRITABLE=network: /proc/sys stays read-only but for
  # /proc/sys/net, the host's own network namespace's parameters, as nspawn
  # does with --private-network and LXC and Docker do with a network of their own.
  (
    for d in $(cgroup_roots); do echo "$BASHPID" >"$d/$cg/cgroup.procs"; done
    SYSTEMD_NSPAWN_API_VFS_WRITABLE=network exec setsid systemd-nspawn -q -b --register=no --keep-unit -M "stw-$name" --hostname="$name" \
      --setenv=STEWARD_FLEET_HOST="$name" --capability=CAP_NET_ADMIN \
      -D "$rootfs" --overlay="$rootfs:$up:/" --network-namespace-path="/run/netns/stw-$name" \
      --resolv-conf=off --timezone=off --link-journal=no
  ) </dev/null >"$hd/console.log" 2>&1 &
  echo $! >"$hd/pid"
}

# remove_cgroups removes the cgroups of this fleet's hosts that no process uses any more.
remove_cgroups() {
  local d
  for d in $(cgroup_roots); do
    [[ -d $d/$(fleet_cgroup) ]] && find "$d/$(fleet_cgroup)" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  return 0
}

# fleet_ssh ADDR CMD runs CMD as root on a fleet host: no prompt, no host-key check, no stderr.
fleet_ssh() {
  local addr=$1; shift
  ssh -q -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -i "$FLEET_STATE/keys/id_ed25519" "root@$addr" "$@" 2>/dev/null
}

# wait_for_ssh waits until a host answers ssh and has booted cleanly: a host
# with a failed unit is no test host (one without systemd-user-sessions lets
# only root log in).
wait_for_ssh() {
  local name=$1 addr=$2 deadline=$((SECONDS + SSH_WAIT)) state
  while ((SECONDS < deadline)); do
    if state=$(fleet_ssh "$addr" 'systemctl is-system-running --wait 2>/dev/null; true'); then
      case $state in
        running) return 0 ;;
        degraded)
          fleet_ssh "$addr" 'systemctl --failed --no-legend --plain' >&2 || true
          die "$name ($addr) booted with failed units" ;;
      esac
    fi
    sleep 0.5
  done
  tail -30 "$FLEET_STATE/hosts/$name/console.log" >&2 || true
  die "$name ($addr) did not answer ssh within ${SSH_WAIT}s"
}

write_description() {
  local n=$1 k=$FLEET_STATE/keys out=$FLEET_STATE/fleet.json.tmp
  {
    printf '{\n  "bridge_address": "%s",\n  "subnet": "%s.0/24",\n' "$GATEWAY" "$SUBNET"
    printf '  "private_key_file": "%s",\n  "user_ca_key_file": "%s",\n  "host_ca_public_key": "%s",\n' \
      "$k/id_ed25519" "$k/user_ca" "$(cut -d' ' -f1,2 "$k/host_ca.pub")"
    printf '  "apt_repository": "http://%s:%s/", "apt_packages": "%s",\n' "$GATEWAY" "$REPO_PORT" "$REPO_PACKAGES"
    printf '  "users": {"root": {"sudo": false}, "deploy": {"sudo": true}, "nosudo": {"sudo": false}},\n'
    printf '  "hosts": [\n'
    for ((i = 1; i <= n; i++)); do
      local name="h$i" hd=$FLEET_STATE/hosts/h$i
      printf '    {"name": "%s", "address": "%s", "port": 22, "machine_id": "%s", "host_key": "%s", "netns": "stw-%s", "pid": %s}%s\n' \
        "$name" "$(cat "$hd/address")" "$(cat "$hd/upper/etc/machine-id")" \
        "$(cut -d' ' -f1,2 "$hd/upper/etc/ssh/ssh_host_ed25519_key.pub")" "$name" "$(host_pid "$name")" \
        "$([[ $i -lt $n ]] && echo ,)"
    done
    printf '  ]\n}\n'
  } >"$out"
  mv "$out" "$FLEET_STATE/fleet.json"
}

# umount_under DIR lazily unmounts everything mounted below DIR, deepest first.
umount_under() {
  awk -v s="$1/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

cmd_down() {
  local d
  if [[ -f $FLEET_STATE/apt-repo.pid ]]; then
    kill "$(cat "$FLEET_STATE/apt-repo.pid")" 2>/dev/null || true
    rm -f "$FLEET_STATE/apt-repo.pid"
  fi
  kill_ours TERM "http.server --bind $GATEWAY"
  for d in "$FLEET_STATE"/hosts/*/; do
    [[ -d $d ]] || continue
    local pid; pid=$(cat "$d/pid" 2>/dev/null || true)
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  # Give containers a moment to power off, then make sure.
  for _ in $(seq 1 50); do
    [[ -n $(ours 'systemd-nspawn.*-M stw-') ]] || break
    sleep 0.2
  done
  kill_ours KILL 'systemd-nspawn.*-M stw-'
  kill_container_inits
  sleep 0.2
  # Leftover mounts of the overlays (from a killed run).
  umount_under "$FLEET_STATE"
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^stw-/ {print $1}'); do ip netns delete "$ns" || true; done
  for d in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^stwv-' || true); do ip link delete "$d" 2>/dev/null || true; done
  ip link delete "$BRIDGE" 2>/dev/null || true
  remove_cgroups
  rm -rf "$FLEET_STATE/hosts" "$FLEET_STATE/fleet.json"
}

cmd_up() {
  local n=${1:-3}
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 200)) || die "up takes a host count 1..200, got '$n'"
  [[ $(id -u) == 0 ]] || die "the fleet needs root"
  local rootfs repo; rootfs=$(build_rootfs); repo=$(build_apt_repo)
  cmd_down
  make_keys
  mkdir -p "$FLEET_STATE/hosts"
  ip link add "$BRIDGE" type bridge
  ip addr add "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Hosts talk to each other (bastion chains) and to services on $GATEWAY; nothing is forwarded out.
  sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
  serve_apt_repo "$repo"
  raise_limits "$n"
  local first last start=$SECONDS
  for ((first = 1; first <= n; first += BOOT_BATCH)); do
    last=$((first + BOOT_BATCH - 1 < n ? first + BOOT_BATCH - 1 : n))
    boot_batch "$first" "$last" "$rootfs"
  done
  write_description "$n"
  log "$n host(s) up in $((SECONDS - start))s; description in $FLEET_STATE/fleet.json"
}

# boot_batch FIRST LAST ROOTFS prepares and boots hosts hFIRST..hLAST at once
# (their key generation is most of the preparation) and waits until each
# answers ssh.
boot_batch() {
  local first=$1 last=$2 rootfs=$3 i pids=() failed=0
  for ((i = first; i <= last; i++)); do boot_host "$i" "$rootfs" & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i" || failed=1; done
  ((failed == 0)) || die "preparing hosts h$first..h$last failed"
  pids=()
  for ((i = first; i <= last; i++)); do wait_for_ssh "h$i" "$SUBNET.$((10 + i))" & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i" || failed=1; done
  ((failed == 0)) || die "hosts of h$first..h$last did not come up"
}

# raise_limits makes room for N hosts in limits the whole machine shares.
# Every host's systemd, logind and dbus hold inotify instances (7 on an idle
# host), all counted against root: the default of 128 runs out near 18 hosts,
# and then a host's systemd stops at "Failed to allocate manager object: Too
# many open files" and never answers ssh.
raise_limits() {
  local want=$((128 + 16 * $1)) have
  have=$(sysctl -n fs.inotify.max_user_instances)
  ((have >= want)) || sysctl -qw fs.inotify.max_user_instances="$want"
}

cmd_status() {
  [[ -f $FLEET_STATE/fleet.json ]] || { echo "fleet is down"; return 0; }
  cat "$FLEET_STATE/fleet.json"
  local d
  for d in "$FLEET_STATE"/hosts/*/; do
    local name addr; name=$(basename "$d"); addr=$(cat "$d/address")
    if fleet_ssh "$addr" true; then
      echo "$name $addr up"
    else
      echo "$name $addr DOWN"
    fi
  done
}

# Another fleet may run on this machine in namespaces of its own (bench/scale.sh
# boots one), under the same host, process and interface names. Its processes
# are visible from here, so every process this script signals must be one of
# this fleet's: its own (nspawn, the apt repository) run in this script's
# network namespace, and so does the parent of each of its hosts' inits (the
# nspawn, or once that is gone the reaper that adopted the init).
same_net() { [[ $(readlink "/proc/$1/ns/net" 2>/dev/null) == "$(readlink /proc/$$/ns/net)" ]]; }

# ours PATTERN prints the PIDs of this fleet's processes whose command line matches PATTERN.
ours() {
  local pid
  for pid in $(pgrep -f "$1" || true); do
    if same_net "$pid"; then echo "$pid"; fi
  done
}

# kill_ours SIGNAL PATTERN signals this fleet's processes that match PATTERN.
kill_ours() {
  local pid
  for pid in $(ours "$2"); do kill "-$1" "$pid" 2>/dev/null || true; done
}

# container_init_pids [hN] prints the PID (as seen here) of the init of every
# fleet container, or of one host's: the process whose environment holds the
# STEWARD_FLEET_HOST variable nspawn gives it, adopted by this fleet.
container_init_pids() {
  local f pid
  for f in /proc/[0-9]*/environ; do
    if grep -qsxz "STEWARD_FLEET_HOST=${1:-h[0-9]*}" "$f"; then
      pid=${f#/proc/}; pid=${pid%/environ}
      if same_net "$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)"; then echo "$pid"; fi
    fi
  done
}

# kill_container_inits SIGKILLs the init of every fleet container (or of one
# host): killing systemd-nspawn alone can leave its container running, orphaned.
# SIGKILL to an init ends its whole PID namespace.
kill_container_inits() {
  local pid
  for pid in $(container_init_pids "${1:-}"); do
    kill -KILL "$pid" 2>/dev/null || true
  done
}

host_dir() {
  [[ ${1:-} =~ ^h[0-9]+$ && -d $FLEET_STATE/hosts/$1 ]] || die "no fleet host '${1:-}'"
  echo "$FLEET_STATE/hosts/$1"
}

# stop kills a host the hard way (power cut): its nspawn gets SIGKILL.
cmd_stop() {
  local hd pid; hd=$(host_dir "$1"); pid=$(cat "$hd/pid")
  kill_container_inits "$1"
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  # Leftover mounts of a killed container.
  umount_under "$hd"
}

# start boots a stopped host again and waits for sshd.
cmd_start() {
  local hd; hd=$(host_dir "$1")
  start_container "$1" "$(cat "$hd/rootfs")"
  wait_for_ssh "$1" "$(cat "$hd/address")"
  write_description "$(ls -d "$FLEET_STATE"/hosts/h* | wc -l)"
}

# init_pid prints the PID (as seen here) of a running host's init.
init_pid() {
  local pids
  pids=$(container_init_pids "$1")
  [[ -n $pids ]] || die "host $1 is not running"
  echo "${pids%%$'\n'*}"
}

# fill mounts a tmpfs with only SLACK_KB to spare over DIR inside the host
# (its content copied in first): the "disk full" fault. unfill undoes it.
cmd_fill() {
  local name=$1 dir=$2 slack=${3:-64} pid
  host_dir "$name" >/dev/null; pid=$(init_pid "$name")
  nsenter -t "$pid" -m -- sh -ec '
    dir=$1 slack=$2
    mkdir -p "$dir"; rm -rf /run/.steward-fill; mkdir -p /run/.steward-fill; cp -a "$dir/." /run/.steward-fill/
    used=$(du -sk /run/.steward-fill | cut -f1)
    mount -t tmpfs -o size=$((used + slack + 64))k,mode=0755 steward-fill "$dir"
    cp -a /run/.steward-fill/. "$dir/"
    fill=$(( $(df -Pk "$dir" 2>/dev/null | awk "NR==2 {print \$4}") - slack ))
    [ "$fill" -le 0 ] || dd if=/dev/zero of="$dir/.fill" bs=1k count="$fill" 2>/dev/null || true
  ' sh "$dir" "$slack"
}

cmd_unfill() {
  local name=$1 dir=$2 pid
  host_dir "$name" >/dev/null; pid=$(init_pid "$name")
  nsenter -t "$pid" -m -- sh -ec '
    dir=$1
    rm -f "$dir/.fill"; rm -rf /run/.steward-fill; mkdir -p /run/.steward-fill; cp -a "$dir/." /run/.steward-fill/
    umount "$dir"; cp -a --remove-destination /run/.steward-fill/. "$dir/"; rm -rf /run/.steward-fill
  ' sh "$dir"
}

# swap exchanges two hosts' addresses (the "re-addressed host" fault).
cmd_swap() {
  local a=$1 b=$2 hda hdb addra addrb
  hda=$(host_dir "$a"); hdb=$(host_dir "$b"); addra=$(cat "$hda/address"); addrb=$(cat "$hdb/address")
  ip -n "stw-$a" addr flush dev eth0; ip -n "stw-$b" addr flush dev eth0
  ip -n "stw-$a" addr add "$addrb/24" dev eth0; ip -n "stw-$b" addr add "$addra/24" dev eth0
  ip -n "stw-$a" route replace default via "$GATEWAY"; ip -n "stw-$b" route replace default via "$GATEWAY"
  echo "$addrb" >"$hda/address"; echo "$addra" >"$hdb/address"
  ip neigh flush dev "$BRIDGE" 2>/dev/null || true
}

cmd_link() {
  local name=${1:-} state=${2:-}
  [[ $name =~ ^h[0-9]+$ && -d $FLEET_STATE/hosts/$name ]] || die "link: no fleet host '$name'"
  case $state in
    down) ip -n "stw-$name" link set eth0 down ;;
    up)
      ip -n "stw-$name" link set eth0 up
      ip -n "stw-$name" route replace default via "$GATEWAY"
      ;;
    *) die "link: want down or up, got '$state'" ;;
  esac
}

# memory prints, for each running host, the memory its processes use (the sum
# of their PSS, so the shared root file system's pages are split between the
# hosts that map them) plus what its tmpfs mounts hold, in KiB, and the totals.
cmd_memory() {
  python3 - "$FLEET_STATE" <<'PY'
import collections, glob, os, sys
state = sys.argv[1]
own_net = os.readlink("/proc/self/ns/net")
def host_of(pid):
    """The name of the host whose init pid is, if it is one of this fleet's (see same_net)."""
    try:
        env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        ppid = next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("PPid:"))
        if os.readlink(f"/proc/{ppid}/ns/net") != own_net:
            return None
    except (OSError, StopIteration):
        return None
    for e in env:
        if e.startswith(b"STEWARD_FLEET_HOST="):
            return e.split(b"=", 1)[1].decode()
    return None
by_ns = collections.defaultdict(list)
inits = {}
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        ns = os.readlink(f"/proc/{p}/ns/pid")
    except OSError:
        continue
    by_ns[ns].append(p)
    name = host_of(p)
    if name and os.path.isdir(f"{state}/hosts/{name}"):
        inits.setdefault(name, (p, ns))
def pss(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
def tmpfs(pid):
    used = 0
    for line in open(f"/proc/{pid}/mounts"):
        dev, mp, fstype = line.split()[:3]
        if fstype != "tmpfs" or mp.startswith("/proc/") or mp == "/run/host":
            continue
        try:
            st = os.statvfs(f"/proc/{pid}/root{mp}")
        except OSError:
            continue
        used += (st.f_blocks - st.f_bfree) * st.f_frsize // 1024
    return used
rows = []
for name, (init, ns) in sorted(inits.items(), key=lambda kv: int(kv[0][1:])):
    procs = by_ns[ns]
    rows.append((name, sum(pss(p) for p in procs), tmpfs(init), len(procs)))
print(f"{'host':<6} {'pss_kib':>9} {'tmpfs_kib':>9} {'total_kib':>9} {'procs':>5}")
for name, p, t, n in rows:
    print(f"{name:<6} {p:>9} {t:>9} {p + t:>9} {n:>5}")
if rows:
    tot = [r[1] + r[2] for r in rows]
    print(f"hosts={len(rows)} total_kib={sum(tot)} mean_kib={sum(tot) // len(rows)} max_kib={max(tot)}")
PY
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  link) shift; cmd_link "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  start) shift; cmd_start "$@" ;;
  swap) shift; cmd_swap "$@" ;;
  fill) shift; cmd_fill "$@" ;;
  unfill) shift; cmd_unfill "$@" ;;
  rootfs) build_rootfs ;;
  memory) cmd_memory ;;
  *) echo "usage: $0 up N | down | status | link hN down|up | stop hN | start hN | swap hA hB | fill hN DIR [KB] | unfill hN DIR | rootfs | memory" >&2; exit 2 ;;
esac
