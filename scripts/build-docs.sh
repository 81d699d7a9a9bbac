#!/usr/bin/env bash
# Builds every library module's DocC documentation the way users and the Swift Package Index do. Modules whose
# documentation is clean are built with warnings as errors, so that a broken symbol link or article reference fails.
# Usage: scripts/build-docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Broken links fail these.
strict=(Whizbang WhizbangTesting)
# These still link to symbols of other modules (`EventStore`, `EventStoreError` …) and to internal types, which
# DocC cannot resolve; they are built so that the catalogs keep building, and move to `strict` once their links are
# fixed (after the SQLite and PostgreSQL work under way in those modules lands, to keep the change out of its way).
lenient=(WhizbangStore WhizbangPostgres)

for target in "${strict[@]}"; do
  echo "documentation (warnings are errors): $target"
  swift package generate-documentation --target "$target" --warnings-as-errors
done
for target in "${lenient[@]}"; do
  echo "documentation: $target"
  swift package generate-documentation --target "$target"
done
