#!/usr/bin/env bash
# Writes a Terraform CLI configuration to $1 that uses the provider built in
# bin/ (a dev override: no registry, no terraform init). Used by the demo and
# the benchmarks; point TF_CLI_CONFIG_FILE at the file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cat >"$1" <<RC
provider_installation {
  dev_overrides {
    "stewardhq/steward" = "$root/bin"
  }
  direct {}
}
RC
