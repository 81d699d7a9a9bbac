#!/usr/bin/env bash
# The PostgreSQL fault test: starts a throwaway loopback server that the test may crash and stall, and runs the
# `PostgreSQL fault injection` suite of WhizbangPostgresTests against it (build the tests first:
# `swift build --build-tests`). The test prints its counts on a line starting with "fault test:".
#
#   scripts/fault-test.sh                       runs the test
#   scripts/fault-test.sh crash DIR PORT        the test's faults: crashes the server (pg_ctl stop -m immediate),
#   scripts/fault-test.sh stall DIR PORT SECS   leaves it down a moment and starts it again; stops its processes
#   scripts/fault-test.sh settle DIR PORT SECS  (SIGSTOP) for SECS, then resumes them; lets SECS pass
set -euo pipefail
cd "$(dirname "$0")/.."
server=scripts/postgres-server.sh

case "${1:-run}" in
  crash)
    "$server" crash "$2"
    sleep 0.5
    "$server" start "$2" "$3" >/dev/null
    sleep 2
    ;;
  stall)
    "$server" pause "$2"
    sleep "$4"
    "$server" resume "$2"
    sleep 2
    ;;
  settle)
    sleep "$4"
    ;;
  run)
    dir=$(mktemp -d /tmp/whizbang-faults.XXXXXX)
    cleanup() {
      "$server" resume "$dir" 2>/dev/null || true
      "$server" stop "$dir" || true
      rm -rf "$dir"
    }
    trap cleanup EXIT
    port=${WHIZBANG_FAULT_PORT:-55451}
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    WHIZBANG_FAULT_POSTGRES_URL=$("$server" start "$dir" "$port")
    export WHIZBANG_FAULT_POSTGRES_URL WHIZBANG_FAULT_POSTGRES_DIR=$dir WHIZBANG_FAULT_PORT=$port
    export WHIZBANG_FAULT_SCRIPT="$PWD/scripts/fault-test.sh"
    log="$dir/test.log"
    status=0
    swift test --skip-build --filter PostgresFaultInjectionTests 2>&1 | tee "$log" || status=$?
    if [ "$status" -ne 0 ]; then exit "$status"; fi
    # A filter that matched nothing passes silently: the counts line proves that the test ran.
    grep -q "^fault test: " "$log" || { echo "the fault test did not run" >&2; exit 1; }
    ;;
  *)
    echo "usage: $0 [crash DIR PORT | stall DIR PORT SECONDS | settle DIR PORT SECONDS]" >&2
    exit 2
    ;;
esac
