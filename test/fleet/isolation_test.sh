#!/usr/bin/env bash
# Fleet hosts are apart from each other and from another fleet's:
#   - two hosts of one fleet never share a cgroup (their systemds would make
#     their units in one tree, and a unit starting on one host could lose its
#     cgroup to the same unit stopping on the other);
#   - of two fleets on one machine, each in network and mount namespaces of its
#     own (as bench/scale.sh boots one beside the shared fleet), `stop h1` and
#     `down` of fleet A stop A's h1 and leave B's h1 running.
# Everything runs in a PID namespace of its own, so no other fleet on the
# machine is touched.
#
#   test/fleet/isolation_test.sh [FLEET_SH]    (needs root; about 15 s)
set -euo pipefail
fleet=$(realpath "${1:-$(dirname "$0")/fleet.sh}")
if [[ -z ${ISOLATION_TEST_NS:-} ]]; then
  mkdir -p /run/netns
  exec unshare --net --mount --pid --fork --mount-proc --propagation private \
    env ISOLATION_TEST_NS=1 bash "$0" "$fleet"
fi
a=$(mktemp -d /var/lib/steward-fleet-isolation-a.XXXX) b=$(mktemp -d /var/lib/steward-fleet-isolation-b.XXXX)
trap 'rm -rf "$a" "$b"' EXIT
mount -t tmpfs -o mode=0755 isolation-a /run/netns
failed=0
# init_cgroup STATE HOST prints the cgroups of a host's init, as seen here.
init_cgroup() {
  local f
  for f in /proc/[0-9]*/environ; do
    if grep -qsxz "STEWARD_FLEET_HOST=$2" "$f" && [[ $(tr '\0' '\n' <"${f%/environ}/cmdline" 2>/dev/null) != *nspawn* ]]; then
      grep -E '^0::|name=systemd' "${f%/environ}/cgroup"
    fi
  done
}
FLEET_STATE=$a "$fleet" up 2 2>/dev/null
if [[ $(init_cgroup "$a" h1) == "$(init_cgroup "$a" h2)" ]]; then
  echo "FAIL: h1 and h2 share their cgroups: $(init_cgroup "$a" h1 | tr '\n' ' ')"; failed=1
fi
FLEET_STATE=$a "$fleet" down
for op in "stop h1" down; do
  FLEET_STATE=$a "$fleet" up 1 2>/dev/null
  # Fleet B: its own network and mount namespaces, this PID namespace.
  rm -f "$b/fleet.json"
  unshare --net --mount --propagation private bash -c \
    'mount -t tmpfs -o mode=0755 isolation-b /run/netns && FLEET_STATE=$1 "$2" up 1 2>/dev/null && exec sleep 600' \
    sh "$b" "$fleet" &
  holder=$!
  for _ in $(seq 1 120); do [[ -f $b/fleet.json ]] && break; sleep 0.5; done
  [[ -f $b/fleet.json ]] || { echo "FAIL: fleet B did not come up"; exit 1; }
  apid=$(cat "$a/hosts/h1/pid") bpid=$(cat "$b/hosts/h1/pid")
  # shellcheck disable=SC2086 # op is two words on purpose
  FLEET_STATE=$a "$fleet" $op
  sleep 1
  if kill -0 "$apid" 2>/dev/null; then echo "FAIL: '$op' of fleet A left A's h1 running"; failed=1; fi
  if ! kill -0 "$bpid" 2>/dev/null; then echo "FAIL: '$op' of fleet A killed fleet B's h1"; failed=1; fi
  [[ $op == down ]] || FLEET_STATE=$a "$fleet" down
  nsenter -t "$holder" -n -m env FLEET_STATE="$b" "$fleet" down
  kill "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
done
((failed == 0)) && echo "PASS: each host has cgroups of its own; each fleet's stop and down touch only its own hosts"
exit "$failed"
