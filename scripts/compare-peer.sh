#!/usr/bin/env bash
# Runs the ledger workload on the Python `eventsourcing` peer and on WhizbangSample (`full`, then `normal`)
# alternately, ROUNDS rounds in one window, and prints each side's rates and the ratios.
#
# While each sample run goes, the WAL file's size and the process's resident memory are sampled every 0.1 s, so the
# table shows their largest values during the run (the sample's own report gives peak RSS too). With STRACE=1, one
# more run of each durability under `strace -f -c` counts the system calls per command (not timed).
#
# Usage: scripts/compare-peer.sh [path/to/WhizbangSample]
# Environment: ROUNDS (3), ACCOUNTS (10000), COMMANDS (100000), PYTHON (a python3 with eventsourcing==9.5.6
# installed: `python3 -m venv venv && venv/bin/pip install eventsourcing==9.5.6`), WORKDIR (a temporary one),
# STRACE (0), SKIP_PEER (0; 1 runs only the sample).
set -euo pipefail

binary=${1:-.build/release/WhizbangSample}
rounds=${ROUNDS:-3}
accounts=${ACCOUNTS:-10000}
commands=${COMMANDS:-100000}
python=${PYTHON:-python3}
workdir=${WORKDIR:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
results="$workdir/results.jsonl"
: > "$results"

if [[ "${SKIP_PEER:-0}" != 1 ]] && ! "$python" -c 'import eventsourcing' 2>/dev/null; then
    echo "compare-peer: $python cannot import eventsourcing; set PYTHON to a venv's python with eventsourcing==9.5.6" >&2
    exit 1
fi

# Runs one command, sampling the largest WAL size and RSS of its process; appends one JSON line to the results with
# the command's own JSON report, the samples and its user + system CPU seconds.
measure() {
    local side=$1 database=$2
    shift 2
    local out="$workdir/out.txt" timing="$workdir/time.txt"
    /usr/bin/time -f '%U %S %M' -o "$timing" "$@" > "$out" &
    local timer=$!
    local maxWAL=0 maxRSS=0 size rss pid
    # /usr/bin/time's child is the measured process.
    while kill -0 "$timer" 2>/dev/null; do
        pid=$(pgrep -P "$timer" | head -n 1 || true)
        if [[ -n "$pid" ]]; then
            rss=$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$pid/status" 2>/dev/null || echo 0)
            (( ${rss:-0} > maxRSS )) && maxRSS=$rss
        fi
        size=$(stat -c %s "$database-wal" 2>/dev/null || echo 0)
        (( size > maxWAL )) && maxWAL=$size
        sleep 0.1
    done
    wait "$timer"
    local report
    report=$(tail -n 1 "$out")
    read -r user system maxKiB < "$timing"
    printf '{"side":"%s","round":%d,"user":%s,"system":%s,"timeMaxRSSBytes":%d,"sampledRSSBytes":%d,"sampledWALBytes":%d,"report":%s}\n' \
        "$side" "$round" "$user" "$system" $((maxKiB * 1024)) "$maxRSS" "$maxWAL" "$report" >> "$results"
}

for round in $(seq 1 "$rounds"); do
    if [[ "${SKIP_PEER:-0}" != 1 ]]; then
        echo "round $round: peer" >&2
        measure peer "$workdir/peer.sqlite" "$python" "$here/peer/ledger_eventsourcing.py" \
            --database "$workdir/peer.sqlite" --accounts "$accounts" --commands "$commands" --json
    fi
    for durability in full normal; do
        echo "round $round: sample $durability" >&2
        rm -f "$workdir/sample.sqlite" "$workdir/sample.sqlite-wal" "$workdir/sample.sqlite-shm"
        measure "$durability" "$workdir/sample.sqlite" "$binary" run --database "$workdir/sample.sqlite" \
            --accounts "$accounts" --commands "$commands" --durability "$durability" --quiet --json
    done
done

if [[ "${STRACE:-0}" == 1 ]]; then
    for durability in full normal; do
        echo "strace: sample $durability" >&2
        rm -f "$workdir/sample.sqlite" "$workdir/sample.sqlite-wal" "$workdir/sample.sqlite-shm"
        strace -f -c -o "$workdir/strace-$durability.txt" "$binary" run --database "$workdir/sample.sqlite" \
            --accounts "$accounts" --commands "$commands" --durability "$durability" --quiet --json > /dev/null
    done
fi

"$python" - "$results" "$workdir" "${STRACE:-0}" "$accounts" "$commands" <<'EOF'
import json, os, sys

results, workdir, strace, accounts, commands = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), int(sys.argv[5])
rows = [json.loads(line) for line in open(results)]
rounds = sorted({row["round"] for row in rows})
by = {(row["round"], row["side"]): row for row in rows}
mib = lambda value: f"{value / 2**20:.1f}"
k = lambda value: f"{value / 1000:,.1f}K"

print(f"ledger: {accounts} accounts, {commands} commands; peer = eventsourcing, sample full and normal")
print("| round | peer cmd/s | full cmd/s | normal cmd/s | full ÷ peer | normal ÷ peer | peer replay ev/s "
      "| sample replay ev/s (full, normal) | replay ÷ peer |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rounds:
    peer, full, normal = by.get((r, "peer")), by.get((r, "full")), by.get((r, "normal"))
    pc = peer["report"]["commandsPerSecond"] if peer else None
    pr = peer["report"]["replayEventsPerSecond"] if peer else None
    fc, nc = full["report"]["commandsPerSecond"], normal["report"]["commandsPerSecond"]
    fr, nr = full["report"]["replayEventsPerSecond"], normal["report"]["replayEventsPerSecond"]
    ratio = lambda a, b: f"{a / b:.1f}×" if b else "—"
    print(f"| {r} | {f'{pc:,.0f}' if pc else '—'} | {fc:,.0f} | {nc:,.0f} | {ratio(fc, pc)} | {ratio(nc, pc)} "
          f"| {k(pr) if pr else '—'} | {k(fr)}, {k(nr)} | {ratio(min(fr, nr), pr)}–{ratio(max(fr, nr), pr)} |")
print()
print("| round | side | peak RSS (report / sampled), MiB | largest WAL sampled, MiB | database after close, MiB "
      "| bytes per event | CPU s (user + sys) | CPU µs per command | ledger outcome |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rounds:
    for side in ("peer", "full", "normal"):
        row = by.get((r, side))
        if not row:
            continue
        report = row["report"]
        cpu = row["user"] + row["system"]
        work = report["accounts"] + report["commands"]
        outcome = (f"accepted {report['accepted']}, deposits {report['deposits']} / {report['depositSum']}, "
                   f"withdrawals {report['withdrawals']} / {report['withdrawSum']}, total {report['total']}, "
                   f"events {report['events']}, ok {report['ok']}")
        print(f"| {r} | {side} | {mib(report['peakRSSBytes'])} / {mib(row['sampledRSSBytes'])} "
              f"| {mib(row['sampledWALBytes'])} | {mib(report['databaseBytes'])} "
              f"| {report['databaseBytes'] / report['events']:.0f} | {row['user']:.2f} + {row['system']:.2f} "
              f"| {cpu / work * 1e6:.1f} | {outcome} |")
if strace:
    print()
    print("| durability | write calls (pwrite64 + pwritev + write) per command | fdatasync + fsync per command | all calls per command |")
    print("|---|---|---|---|")
    for durability in ("full", "normal"):
        calls = {}
        total = 0
        for line in open(os.path.join(workdir, f"strace-{durability}.txt")):
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                try:
                    count = int(parts[3])
                except ValueError:
                    continue
                calls[parts[-1]] = count
                total += count
        work = accounts + commands
        writes = sum(calls.get(name, 0) for name in ("pwrite64", "pwritev", "pwritev2", "write", "writev"))
        syncs = sum(calls.get(name, 0) for name in ("fdatasync", "fsync"))
        print(f"| {durability} | {writes / work:.2f} ({writes:,}) | {syncs / work:.3f} ({syncs:,}) | {total / work:.1f} |")
EOF
