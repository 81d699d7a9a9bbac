#!/usr/bin/env bash
# Kills `WhizbangSample run --ack-log` with SIGKILL at random moments while it writes, reusing one database (--keep),
# then checks with `verify --ack-log` that the log is sound and every acknowledged command's events are stored.
#
# Usage: scripts/kill-test.sh [path/to/WhizbangSample]
# Environment: KILLS (default 10), ACCOUNTS (200), COMMANDS (1000000), DURABILITY (full), WORKDIR (a temporary one).
set -euo pipefail

binary=${1:-.build/debug/WhizbangSample}
kills=${KILLS:-10}
accounts=${ACCOUNTS:-200}
commands=${COMMANDS:-1000000}
durability=${DURABILITY:-full}
workdir=${WORKDIR:-$(mktemp -d)}
database="$workdir/ledger.sqlite"
ack="$workdir/ack.log"
rm -f "$database" "$database-wal" "$database-shm" "$ack"
touch "$ack"

# The acknowledgements: every line but the first, which names the ledger.
acknowledged() { awk '!/^#/ { n++ } END { print n + 0 }' "$ack"; }

killed=0
attempts=0
while (( killed < kills )); do
    attempts=$((attempts + 1))
    if (( attempts > kills * 3 )); then
        echo "kill-test: only $killed of $kills runs could be killed mid-write" >&2
        exit 1
    fi
    before=$(acknowledged)
    "$binary" run --database "$database" --keep --accounts "$accounts" --commands "$commands" \
        --concurrency 64 --durability "$durability" --ack-log "$ack" --quiet > "$workdir/run.out" 2>&1 &
    pid=$!
    # Wait until this run acknowledges commands, so that the kill lands while it writes.
    for _ in $(seq 1 600); do
        if (( $(acknowledged) > before )) || ! kill -0 "$pid" 2> /dev/null; then break; fi
        sleep 0.05
    done
    # A random moment in the next ~300 ms.
    sleep "$(printf '0.%03d' $((RANDOM % 300)))"
    if kill -KILL "$pid" 2> /dev/null; then
        killed=$((killed + 1))
    fi
    wait "$pid" 2> /dev/null || true
    echo "kill-test: run $attempts killed=$killed acknowledged=$(acknowledged)"
done

echo "kill-test: $killed runs killed with SIGKILL, $(acknowledged) commands acknowledged; verifying"
"$binary" verify --database "$database" --ack-log "$ack"
