#!/usr/bin/env bash
# Sends SIGTERM to `WhizbangSample run --ack-log` while it writes and checks that it stops cleanly: exit status 143,
# a "stopped by signal" line, and `verify --ack-log` finds every acknowledged command's events.
#
# Usage: scripts/term-test.sh [path/to/WhizbangSample]
# Environment: ACCOUNTS (200), COMMANDS (1000000), WORKDIR (a temporary one).
set -euo pipefail

binary=${1:-.build/debug/WhizbangSample}
accounts=${ACCOUNTS:-200}
commands=${COMMANDS:-1000000}
workdir=${WORKDIR:-$(mktemp -d)}
database="$workdir/ledger.sqlite"
ack="$workdir/ack.log"
rm -f "$database" "$database-wal" "$database-shm" "$ack"
touch "$ack"
# The acknowledgements: every line but the first, which names the ledger.
acknowledged() { awk '!/^#/ { n++ } END { print n + 0 }' "$ack"; }

"$binary" run --database "$database" --accounts "$accounts" --commands "$commands" --concurrency 64 \
    --ack-log "$ack" --quiet > "$workdir/run.out" 2> "$workdir/run.err" &
pid=$!
# Wait until the run acknowledges operate-phase commands, so that the signal lands while it writes.
for _ in $(seq 1 1200); do
    if (( $(acknowledged) > accounts + 100 )) || ! kill -0 "$pid" 2> /dev/null; then break; fi
    sleep 0.05
done
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
echo "term-test: exit status $status, $(acknowledged) commands acknowledged"
cat "$workdir/run.err"
if (( status != 143 )); then
    echo "term-test: expected exit status 143" >&2
    exit 1
fi
grep -q "stopped by signal 15" "$workdir/run.err"
"$binary" verify --database "$database" --ack-log "$ack"
