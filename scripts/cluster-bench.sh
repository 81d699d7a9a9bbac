#!/usr/bin/env bash
# Ledger throughput through a cluster's inbox against the single-process PostgreSQL run, in one window, on the
# server named by WHIZBANG_POSTGRES_URL. Build first: `swift build -c release --product WhizbangSample` (or set
# WHIZBANG_SAMPLE to another build's binary).
#
#   scripts/cluster-bench.sh [COMMANDS] [ACCOUNTS] [NODES...]     default 20000 1000 0 1 2 3
#
# CONCURRENCY (default 256) sets the commands the load process keeps in flight, in every run.
#
# NODES 0 is the single-process run (`run --database URL`); N > 0 starts N `node` processes and sends the workload
# with `run --cluster`. Prints one line per run: commands/s and p50/p99 latency in microseconds, and where the CPU
# went: seconds of CPU of the load process, of each node, and (when WHIZBANG_POSTGRES_DATA names the server's data
# directory) of the PostgreSQL server, with the nodes' mean commands per batch; and for the cluster runs, the scans of
# the inbox's indexes and the index entries they read (`pg_stat_user_indexes`, counted once the processes exited).
set -euo pipefail
cd "$(dirname "$0")/.."

url=${WHIZBANG_POSTGRES_URL:?set WHIZBANG_POSTGRES_URL}
commands=${1:-20000}
concurrency=${CONCURRENCY:-256}
accounts=${2:-1000}
shift $(($# > 2 ? 2 : $#)) || true
node_counts=("$@")
[ ${#node_counts[@]} -gt 0 ] || node_counts=(0 1 2 3)
bin=${WHIZBANG_SAMPLE:-"$(swift build -c release --show-bin-path)/WhizbangSample"}
psql_bin=$(ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V -r | head -1 || true)
psql_bin=${psql_bin:-psql}
separator='?'
case "$url" in *\?*) separator='&' ;; esac
cluster_options=(--partitions 256 --heartbeat-milliseconds 500 --lease-milliseconds 5000 --poll-milliseconds 500)
sql() { PGOPTIONS="-c client_min_messages=warning" "$psql_bin" "$url" -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
json_field() { sed -n 's/.*"'"$2"'":\([-0-9.e+]*\).*/\1/p' "$1" | tail -1; }
work=$(mktemp -d /tmp/whizbang-cluster-bench.XXXXXX)
node_pids=()
schema=""
postmaster=""
if [ -n "${WHIZBANG_POSTGRES_DATA:-}" ] && [ -r "$WHIZBANG_POSTGRES_DATA/postmaster.pid" ]; then
  postmaster=$(head -1 "$WHIZBANG_POSTGRES_DATA/postmaster.pid")
fi
ticks=$(getconf CLK_TCK)
# CPU seconds of a process: its own (utime + stime) and, with "all", that of the children it waited for.
cpu_seconds() {
  awk -v all="${2:-}" -v ticks="$ticks" '{ sub(/.*\) /, ""); t = $12 + $13; if (all != "") t += $14 + $15;
    printf "%.1f", t / ticks }' "/proc/$1/stat" 2>/dev/null || echo "?"
}

cleanup() {
  for pid in "${node_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ -n "$schema" ]; then
    sql "DROP SCHEMA IF EXISTS \"${schema}_cluster\" CASCADE; DROP SCHEMA IF EXISTS \"$schema\" CASCADE" \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

for nodes in "${node_counts[@]}"; do
  schema="bench_$(date +%s)_$$_$nodes"
  database="${url}${separator}schema=${schema}"
  out="$work/run-$nodes.json"
  database_before=$([ -n "$postmaster" ] && cpu_seconds "$postmaster" all || echo "?")
  node_cpu=""
  if [ "$nodes" -eq 0 ]; then
    /usr/bin/time -f "%U %S" -o "$work/time-$nodes" "$bin" run --database "$database" --accounts "$accounts" --commands "$commands" --concurrency "$concurrency" --quiet --json \
      >"$out"
  else
    node_pids=()
    for index in $(seq 1 "$nodes"); do
      "$bin" node --database "$database" --node-id "bench-$index" "${cluster_options[@]}" \
        >"$work/node-$nodes-$index.log" 2>&1 &
      node_pids+=($!)
    done
    deadline=$((SECONDS + 60))
    until [ "$(sql "SELECT count(DISTINCT owner) = $nodes AND count(*) FILTER (WHERE owner IS NULL) = 0
                    FROM \"${schema}_cluster\".partitions" 2>/dev/null || true)" = "t" ]; do
      [ $SECONDS -lt $deadline ] || { echo "the nodes did not share the partitions within 60 s" >&2; exit 1; }
      sleep 0.2
    done
    /usr/bin/time -f "%U %S" -o "$work/time-$nodes" "$bin" run --database "$database" --cluster --accounts "$accounts" --commands "$commands" --concurrency "$concurrency" \
      --quiet --json "${cluster_options[@]}" >"$out"
    for pid in "${node_pids[@]}"; do node_cpu="$node_cpu $(cpu_seconds "$pid")"; done
    for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${node_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    node_pids=()
    batches=$(sed -n 's/.* \([0-9]*\) commands run in \([0-9]*\) batches.*/\1 \2/p' "$work"/node-"$nodes"-*.log |
      awk '{ c += $1; b += $2 } END { if (b > 0) printf "%.0f", c / b; else print "?" }')
  fi
  sleep 1 # the server reaps the backends of the closed connections
  database_after=$([ -n "$postmaster" ] && cpu_seconds "$postmaster" all || echo "?")
  label=$([ "$nodes" -eq 0 ] && echo "single process" || echo "$nodes node(s) through the inbox")
  label="$label, $concurrency in flight"
  printf '%-48s %8.0f commands/s  p50 %6s us  p99 %7s us  (accepted %s, rejected %s)\n' "$label" \
    "$(json_field "$out" commandsPerSecond)" "$(json_field "$out" p50Micros)" "$(json_field "$out" p99Micros)" \
    "$(json_field "$out" accepted)" "$(json_field "$out" rejected)"
  load_cpu=$(awk '{ printf "%.1f", $1 + $2 }' "$work/time-$nodes")
  database_cpu=$(awk -v a="$database_before" -v b="$database_after" \
    'BEGIN { if (a == "?" || b == "?") print "?"; else printf "%.1f", b - a }')
  echo "    CPU seconds: load $load_cpu, nodes${node_cpu:- -}, PostgreSQL $database_cpu;" \
    "commands per batch ${batches:--}; $(json_field "$out" operateSeconds) s operating"
  batches=""
  if [ "$nodes" -gt 0 ]; then
    echo "    inbox index scans: $(sql "SELECT string_agg(indexrelname || ' ' || idx_scan || ' scans, ' || idx_tup_read
      || ' entries read', '; ' ORDER BY indexrelname) FROM pg_stat_user_indexes
      WHERE schemaname = '${schema}_cluster' AND relname = 'inbox'")"
  fi
  sql "DROP SCHEMA IF EXISTS \"${schema}_cluster\" CASCADE; DROP SCHEMA IF EXISTS \"$schema\" CASCADE" >/dev/null
  schema=""
done
