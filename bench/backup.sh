#!/usr/bin/env bash
# Benchmark: Steward's snapshot engine against `tar | zstd -3 -T0 | age` and
# restic on the same reproducible ~1 GiB tree (100k small files + 20 large
# ones, half compressible): full backup, no-change backup and restore, each
# with its wall time and peak RSS, plus a bare WalkDir+Lstat of the tree.
# Every measurement is repeated RUNS times (default 5) and the medians are
# compared; the order of the tools alternates from run to run.
#
#   bench/backup.sh            (data and results under /var/tmp/steward-bench)
#   RUNS=3 bench/backup.sh
#
# Everything runs on a scratch ext4 file system in a loop-mounted image with
# default mount options. This machine mounts / with online `discard`: after a
# large delete it spends a minute or more discarding, and file creation is
# about 10x slower meanwhile (tar -x of the tree: 4 s settled, 39 s right
# after an rm -rf), which made restore timings depend on what ran before.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${BENCH_DIR:-/var/tmp/steward-bench}
runs=${RUNS:-5}
for tool in restic age zstd bc /usr/bin/time mkfs.ext4; do
  command -v "$tool" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic age zstd bc time e2fsprogs >/dev/null; break; }
done
mkdir -p "$base"
go build -o "$base/gentree" "$root/bench/gentree"
go build -o "$base/steward-agent" "$root/cmd/steward-agent"

# The scratch file system: created once, kept with the data set in it.
img=$base/scratch.img mnt=$base/mnt
mkdir -p "$mnt"
if ! mountpoint -q "$mnt"; then
  if [[ ! -f $img ]]; then
    truncate -s 40G "$img"
    mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$img"
  fi
  mount -o loop,nodiscard "$img" "$mnt"
fi
# Direct I/O on the loop device: no second page cache under the file system
# (without it, writeback of the image slows every tool, Steward's fsync most).
losetup --direct-io=on "$(findmnt -no SOURCE "$mnt")"
w=$mnt/work data=$mnt/data
if [[ ! -f $mnt/data.complete ]]; then
  echo "generating the data set in $data (once)..."
  rm -rf "$data"
  "$base/gentree" -out "$data"
  touch "$mnt/data.complete"
fi
cleanup() { rm -rf "$w"; }
trap cleanup EXIT
cleanup
mkdir -p "$w"
age-keygen -o "$w/key.txt" 2>/dev/null
rcpt=$(age-keygen -y "$w/key.txt")
export RESTIC_PASSWORD=steward-bench

# measure NAME CMD...: wall seconds and peak RSS (MiB) of CMD, appended to
# $w/NAME.times as "seconds MiB".
measure() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$w/time.out" "$@" >"$w/$name.log" 2>&1 || { echo "$name failed:"; tail -20 "$w/$name.log"; exit 1; }
  read -r s kb <"$w/time.out"
  echo "$s $((kb / 1024))" >>"$w/$name.times"
  printf '    %-18s %7.2f s  %5d MiB\n' "$name" "$s" "$((kb / 1024))"
}
median() { cut -d' ' -f"$2" "$w/$1.times" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
maximum() { cut -d' ' -f"$2" "$w/$1.times" | sort -g | tail -1; }

restic_run() {
  export RESTIC_REPOSITORY=$w/restic
  restic init --repository-version 2 >/dev/null
  measure restic-full restic backup --compression auto -q "$data"
  measure restic-nochange restic backup --compression auto -q "$data"
  measure restic-restore restic restore latest --target "$w/restore-restic" -q
}
steward_run() {
  local a=$w/steward-agent
  mkdir -p "$w/steward-dest" "$w/steward-root"
  cat >"$w/steward.json" <<JSON
{"name":"bench","paths":["$data"],"schedule":"@daily","destination":{"path":"$w/steward-dest"},
 "recipients":["$rcpt"],"full_every":7,"retention":{},"include_steward_config":false}
JSON
  STEWARD_ROOT=$w/steward-root measure steward-full "$base/steward-agent" backup run --config "$w/steward.json"
  STEWARD_ROOT=$w/steward-root measure steward-nochange "$base/steward-agent" backup run --config "$w/steward.json"
  STEWARD_ROOT=$w/steward-root measure steward-restore "$base/steward-agent" backup restore --config "$w/steward.json" \
    --snapshot latest --target "$w/restore-steward" --identity "$w/key.txt"
}

echo "data: $(du -sh "$data" | cut -f1), $(find "$data" -type f | wc -l) files; $runs runs on $(findmnt -no SOURCE,FSTYPE,OPTIONS "$mnt")"
# Every tool reads the data from the page cache, the first one included.
tar -cf - -C "$data" . >/dev/null
for i in $(seq 1 "$runs"); do
  echo "  run $i"
  sync
  "$base/gentree" -walk "$data" | awk '{print $1, 0}' >>"$w/walk.times"
  printf '    %-18s %7.2f s\n' walk "$(tail -1 "$w/walk.times" | cut -d' ' -f1)"
  measure tar-zstd-age sh -c "tar -cf - -C '$data' . | zstd -3 -T0 -q | age -r '$rcpt' >'$w/tar.zst.age'"
  rm -f "$w/tar.zst.age"
  if ((i % 2)); then restic_run; steward_run; else steward_run; restic_run; fi
  if ((i == 1)); then
    diff -rq "$data" "$w/restore-steward$data" >/dev/null && echo "    steward restore: byte-identical to the source" ||
      { echo "    steward restore DIFFERS from the source"; exit 1; }
  fi
  rm -rf "$w/restic" "$w/restore-restic" "$w/steward-dest" "$w/steward-root" "$w/restore-steward"
done

ratio() { echo "scale=2; $1 / $2" | bc -l; }
echo
echo "medians of $runs runs (seconds)"
for m in walk tar-zstd-age restic-full restic-nochange restic-restore steward-full steward-nochange steward-restore; do
  printf '  %-18s %7.2f   (min %.2f, max %.2f)\n' "$m" "$(median "$m" 1)" "$(cut -d' ' -f1 "$w/$m.times" | sort -g | head -1)" "$(maximum "$m" 1)"
done
echo
echo "ratios of the medians (higher is better for Steward; targets from issue 4)"
printf '  full backup: tar|zstd|age time / steward time   %5s   (target >= 0.8)\n' "$(ratio "$(median tar-zstd-age 1)" "$(median steward-full 1)")"
printf '  full backup: restic time / steward time         %5s   (target >= 2)\n' "$(ratio "$(median restic-full 1)" "$(median steward-full 1)")"
printf '  no-change backup: steward time / bare walk      %5s   (target <= 2)\n' "$(ratio "$(median steward-nochange 1)" "$(median walk 1)")"
printf '  restore: restic time / steward time             %5s   (target >= 2)\n' "$(ratio "$(median restic-restore 1)" "$(median steward-restore 1)")"
printf '  peak RSS, steward (max over all runs)           %5d MiB (target <= 100; restic full %d MiB)\n' \
  "$(cat "$w"/steward-*.times | cut -d' ' -f2 | sort -n | tail -1)" "$(maximum restic-full 2)"
