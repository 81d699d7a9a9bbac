#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests, in a directory of its own; no systemd needed.
#
#   scripts/postgres-server.sh start DIR [PORT]   creates the cluster in DIR if needed, starts it, prints its URL
#   scripts/postgres-server.sh stop DIR           stops it (DIR stays; remove it to start afresh)
#   scripts/postgres-server.sh crash DIR          stops it as a crash would (pg_ctl stop -m immediate)
#   scripts/postgres-server.sh pause DIR          stops the server's processes (SIGSTOP): it accepts nothing
#   scripts/postgres-server.sh resume DIR         lets them go on (SIGCONT)
#
# The server listens on 127.0.0.1 only and keeps its socket in DIR. It runs as the calling user, or, when that is
# root (PostgreSQL refuses to), as the `postgres` user that Debian's package creates, else as `nobody`. The role
# `whizbang` logs in over TCP with a password (SCRAM), so the tests cover password authentication.
# POSTGRES_OPTIONS adds server settings, e.g. POSTGRES_OPTIONS="-c fsync=off".
set -euo pipefail

command_name=${1:-}
dir=${2:-}
port=${3:-55432}
if [ -z "$command_name" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop|crash|pause|resume DIR [PORT]" >&2
  exit 2
fi

bindir=""
for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$candidate/pg_ctl" ]; then bindir=$candidate; break; fi
done
if [ -z "$bindir" ]; then
  if ! command -v pg_ctl >/dev/null 2>&1; then
    echo "no PostgreSQL server binaries found (install Debian's postgresql package)" >&2
    exit 1
  fi
  bindir=$(dirname "$(command -v pg_ctl)")
fi

# Runs a command as the cluster's owner, in the cluster's directory (the owner may not read the caller's).
as_owner() {
  if [ "$(id -u)" -ne 0 ]; then
    (cd "$dir" && "$@")
  else
    (cd "$dir" && runuser -u "$(owner_name)" -- "$@")
  fi
}

owner_name() {
  if [ "$(id -u)" -ne 0 ]; then id -un; elif getent passwd postgres >/dev/null; then echo postgres; else echo nobody; fi
}

password=whizbang-test-password
data="$dir/data"
case "$command_name" in
  start)
    mkdir -p "$dir"
    chown "$(owner_name)" "$dir"
    chmod 700 "$dir"
    if [ ! -f "$data/PG_VERSION" ]; then
      printf '%s\n' "$password" >"$dir/password"
      chown "$(owner_name)" "$dir/password"
      as_owner "$bindir/initdb" --pgdata="$data" --username=whizbang --pwfile="$dir/password" \
        --auth-host=scram-sha-256 --auth-local=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
      }
      rm -f "$dir/password"
    fi
    # shellcheck disable=SC2086
    as_owner "$bindir/pg_ctl" --pgdata="$data" --log="$dir/server.log" --wait --timeout=60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=600 ${POSTGRES_OPTIONS:-}" \
      start >/dev/null || {
      cat "$dir/server.log" >&2
      exit 1
    }
    echo "postgres://whizbang:$password@127.0.0.1:$port/postgres?sslmode=disable"
    ;;
  stop)
    if [ -f "$data/postmaster.pid" ]; then
      as_owner "$bindir/pg_ctl" --pgdata="$data" --mode=fast --wait stop >/dev/null
    fi
    ;;
  crash)
    as_owner "$bindir/pg_ctl" --pgdata="$data" --mode=immediate --wait stop >/dev/null
    ;;
  pause | resume)
    signal=STOP
    if [ "$command_name" = resume ]; then signal=CONT; fi
    postmaster=$(head -n 1 "$data/postmaster.pid")
    # The postmaster first, so that it starts no new backend; then every process it started.
    kill "-$signal" "$postmaster"
    for child in $(ps -o pid= --ppid "$postmaster"); do kill "-$signal" "$child" 2>/dev/null || true; done
    ;;
  *)
    echo "usage: $0 start|stop|crash|pause|resume DIR [PORT]" >&2
    exit 2
    ;;
esac
