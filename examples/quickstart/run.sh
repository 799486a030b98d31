#!/usr/bin/env bash
# Runs examples/quickstart against the local fleet with the provider built in
# bin/ (a dev override: no registry, no terraform init needed): deploys the
# agent to every host and backs up /etc of h1, shows that plan is empty,
# stops the agent on one host by hand, shows the plan that detects it, and
# restores a file from the backup with the operator's key.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/test/dev-terraformrc.sh" "$work/terraformrc"
cp "$root/examples/quickstart/main.tf" "$work/"
# The operator's backup key: the hosts only ever see its public half.
(cd "$root" && go run filippo.io/age/cmd/age-keygen -o "$work/backup-key.txt" 2>/dev/null)
export TF_VAR_backup_recipient=$(sed -n 's/^# public key: //p' "$work/backup-key.txt")
cd "$work"
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
tf=${TERRAFORM:-$(go env GOPATH)/bin/terraform}
fleet=${FLEET_STATE:-/var/lib/steward-fleet}
quiet() { grep -v -e 'Provider development overrides' -e 'stewardhq/steward in' -e 'behavior may therefore' -e 'applying changes may' -e 'published releases' -e 'following provider development' -e "can't guarantee" -e 'You didn.t use the -out' -e '^─' || true; }

echo "== 1. terraform apply: deploy steward-agent to every fleet host, back up /etc of h1"
if ! "$tf" apply -auto-approve -no-color >apply.log 2>&1; then cat apply.log >&2; exit 1; fi
grep -E 'Creation complete|Read complete|Apply complete' apply.log
"$tf" output -no-color facts
"$tf" output -no-color backups

echo
echo "== 2. terraform plan: nothing to do"
set +e
"$tf" plan -no-color -detailed-exitcode >plan.log 2>&1; rc=$?
set -e
grep -E 'No changes|Plan:' plan.log
echo "(plan -detailed-exitcode exited $rc)"

address() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hosts"][int(sys.argv[2])]["address"])' "$fleet/fleet.json" "$1"; }
as_root() { ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i "$fleet/keys/id_ed25519" "root@$1" "${@:2}"; }
h1=$(address 0) h2=$(address 1)
echo
echo "== 3. someone stops the agent on h2 ($h2) by hand: systemctl stop steward-agent"
as_root "$h2" systemctl stop steward-agent

echo
echo "== 4. terraform plan: the drift shows"
set +e
"$tf" plan -no-color -detailed-exitcode >plan.log 2>&1; rc=$?
set -e
sed -n '/Terraform will perform/,$p' plan.log | quiet
echo "(plan -detailed-exitcode exited $rc: 2 means changes)"

echo
echo "== 5. restore /etc/hostname of h1 from the latest snapshot, with the operator's key"
as_root "$h1" 'umask 077; cat >/run/backup-key.txt' <"$work/backup-key.txt"
as_root "$h1" /usr/local/lib/steward/current backup restore --schedule etc --snapshot latest \
  --include /etc/hostname --target /tmp/restored --identity /run/backup-key.txt
as_root "$h1" 'rm -f /run/backup-key.txt; echo "restored: $(cat /tmp/restored/etc/hostname)"; rm -rf /tmp/restored'
echo
echo "Run 'make fleet-down' to take the fleet down."
