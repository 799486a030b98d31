#!/usr/bin/env bash
# Runs examples/quickstart against the local fleet with the provider built in
# bin/ (a dev override: no registry, no terraform init needed).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "stewardhq/steward" = "$root/bin"
  }
  direct {}
}
RC
cp "$root/examples/quickstart/main.tf" "$work/"
cd "$work"
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
tf=${TERRAFORM:-$(go env GOPATH)/bin/terraform}
echo "terraform apply on examples/quickstart (provider from $root/bin)"
if ! "$tf" apply -auto-approve -no-color >apply.log 2>&1; then
  cat apply.log >&2
  exit 1
fi
grep -E 'Read complete|Apply complete' apply.log
"$tf" output facts
