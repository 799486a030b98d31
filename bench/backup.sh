#!/usr/bin/env bash
# Benchmark: Steward's snapshot engine against `tar | zstd -3 -T0 | age` and
# restic on the same reproducible ~1 GiB tree (100k small files + 20 large
# ones, half compressible), in one run: full backup, no-change backup, restore,
# each with its wall time and peak RSS; plus a bare WalkDir+Lstat of the tree.
#
#   bench/backup.sh            (data and results under /var/tmp/steward-bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${BENCH_DIR:-/var/tmp/steward-bench}
data=$base/data
for tool in restic age zstd /usr/bin/time; do
  command -v "$tool" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic age zstd time >/dev/null; break; }
done
mkdir -p "$base"
go build -o "$base/gentree" "$root/bench/gentree"
go build -o "$base/steward-agent" "$root/cmd/steward-agent"
if [[ ! -f $base/data.complete ]]; then
  echo "generating the data set in $data (once)..."
  rm -rf "$data"
  "$base/gentree" -out "$data"
  touch "$base/data.complete"
fi
# Deleting 100k files makes this kind of disk slow to create files for a while
# afterwards (tar -x measured 4 s right before and 39 s right after a large
# rm -rf), which would distort the restore timings: results are removed when
# the run ends, and leftovers of an interrupted run are removed well before.
cleanup() { rm -rf "$base/out" "$base/restic" "$base/steward-dest" "$base/steward-root" "$base/restore-"*; }
if compgen -G "$base/restore-*" >/dev/null || [[ -e $base/restic ]]; then
  echo "removing an earlier run's results, then letting the disk settle..."
  cleanup; sync; sleep 60
fi
trap cleanup EXIT
mkdir -p "$base/out" "$base/steward-dest" "$base/steward-root"
rm -f "$base/key.txt"; age-keygen -o "$base/key.txt" 2>/dev/null
rcpt=$(age-keygen -y "$base/key.txt")
export RESTIC_PASSWORD=steward-bench RESTIC_REPOSITORY=$base/restic STEWARD_ROOT=$base/steward-root
cat >"$base/steward.json" <<JSON
{"name":"bench","paths":["$data"],"schedule":"@daily","destination":{"path":"$base/steward-dest"},
 "recipients":["$rcpt"],"full_every":7,"retention":{},"include_steward_config":false}
JSON

# measure NAME CMD...: wall seconds and peak RSS (MiB) of CMD, into $secs and $rss.
declare -A secs rss
measure() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$base/time.out" "$@" >"$base/$name.log" 2>&1 || { echo "$name failed:"; tail -20 "$base/$name.log"; exit 1; }
  read -r s kb <"$base/time.out"
  secs[$name]=$s
  rss[$name]=$((kb / 1024))
  printf '  %-24s %7.2f s   %5d MiB\n' "$name" "$s" "${rss[$name]}"
}

sync
echo "data: $(du -sh "$data" | cut -f1), $(find "$data" -type f | wc -l) files"
walk=$("$base/gentree" -walk "$data" | cut -d' ' -f1)
printf '  %-24s %7.2f s\n' "bare WalkDir+Lstat" "$walk"
measure tar-zstd-age sh -c "tar -cf - -C '$data' . | zstd -3 -T0 -q | age -r '$rcpt' >'$base/out/tar.zst.age'"
restic init --repository-version 2 >/dev/null
measure restic-full restic backup --compression auto -q "$data"
measure restic-nochange restic backup --compression auto -q "$data"
measure restic-restore restic restore latest --target "$base/restore-restic" -q
measure steward-full "$base/steward-agent" backup run --config "$base/steward.json"
measure steward-nochange "$base/steward-agent" backup run --config "$base/steward.json"
measure steward-restore "$base/steward-agent" backup restore --config "$base/steward.json" --snapshot latest --target "$base/restore-steward" --identity "$base/key.txt"
diff -rq "$data" "$base/restore-steward$data" >/dev/null && echo "  steward restore: byte-identical to the source" || { echo "  steward restore DIFFERS from the source"; exit 1; }

ratio() { echo "scale=2; $1 / $2" | bc -l; }
echo
echo "ratios (higher is better for Steward; targets from issue 4)"
printf '  full backup: tar|zstd|age time / steward time   %5s   (target >= 0.8)\n' "$(ratio "${secs[tar-zstd-age]}" "${secs[steward-full]}")"
printf '  full backup: restic time / steward time         %5s   (target >= 2)\n' "$(ratio "${secs[restic-full]}" "${secs[steward-full]}")"
printf '  no-change backup: steward time / bare walk      %5s   (target <= 2)\n' "$(ratio "${secs[steward-nochange]}" "$walk")"
printf '  restore: restic time / steward time             %5s   (target >= 2)\n' "$(ratio "${secs[restic-restore]}" "${secs[steward-restore]}")"
printf '  peak RSS, steward (max of full, no-change, restore)  %d MiB   (target <= 100; restic full %d MiB)\n' \
  "$(printf '%s\n' "${rss[steward-full]}" "${rss[steward-nochange]}" "${rss[steward-restore]}" | sort -n | tail -1)" "${rss[restic-full]}"
