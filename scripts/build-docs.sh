#!/usr/bin/env bash
# Builds every library module's DocC documentation the way users and the Swift Package Index do, each with
# warnings as errors, so that a broken symbol link or article reference fails.
# Usage: scripts/build-docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Broken links fail these.
strict=(Whizbang WhizbangTesting WhizbangStore WhizbangPostgres WhizbangCluster WhizbangConsole)
# A symbol of another module (`EventStore` in WhizbangStore's pages, say) cannot be linked when DocC builds one module
# at a time, as the Swift Package Index does; such names are written in code voice.

for target in "${strict[@]}"; do
  echo "documentation (warnings are errors): $target"
  swift package generate-documentation --target "$target" --warnings-as-errors
done
