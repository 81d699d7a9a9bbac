#!/usr/bin/env python3
"""The Whizbang bank-ledger workload on the Python `eventsourcing` library (9.5.6), SQLite persistence.

The peer that BENCHMARKS.md compares WhizbangSample with. The workload is the one issue 5 defines:

- open: accounts k = 0 ..< A each receive Open(D); no random numbers are drawn.
- operate: for each of C commands draw three outputs w1, w2, w3 of CPython's MT19937, seeded with
  random.Random(S), each with getrandbits(32): account k = w1 % A; a deposit if w2 % 2 == 0, else a
  withdrawal; amount 1 + w3 % 100. A withdrawal over the balance is rejected and writes nothing.
- replay: read the whole application sequence in order, decode every event, rebuild the balances and check
  total == A*D + deposits - withdrawals, events == A + accepted, every balance as the run kept it, none negative.

Commands run one at a time (the library is synchronous). Each save is one SQLite transaction in autocommit
mode; the library sets WAL mode and leaves `synchronous` at SQLite's default, FULL, so every command's commit
is fsynced (the script prints the pragma to show it). The aggregate cache (AGGREGATE_CACHE_MAXSIZE) is on by
default, as our run caches every account too; `--no-cache` reads each account's events for every command.

    pip install eventsourcing==9.5.6
    python3 scripts/peer/ledger_eventsourcing.py --database /tmp/peer.sqlite --accounts 10000 --commands 100000

It prints a readable report and, with --json, one JSON object on the last line.
"""

import argparse
import json
import os
import random
import resource
import sys
import time
import uuid

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # the URL namespace of RFC 4122


class InsufficientFunds(Exception):
    pass


class Account(Aggregate):
    @staticmethod
    def create_id(number: int) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"account-{number}")

    @event("Opened")
    def __init__(self, number: int, initial_deposit: int):
        self.number = number
        self.balance = initial_deposit

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount

    def withdraw(self, amount: int) -> None:
        if amount > self.balance:
            raise InsufficientFunds(amount)
        self._withdrawn(amount)

    @event("Withdrawn")
    def _withdrawn(self, amount: int) -> None:
        self.balance -= amount


class Ledger(Application):
    def open(self, number: int, initial_deposit: int) -> None:
        self.save(Account(number, initial_deposit))

    def deposit(self, number: int, amount: int) -> int:
        account = self.repository.get(Account.create_id(number))
        account.deposit(amount)
        self.save(account)
        return account.balance

    def withdraw(self, number: int, amount: int) -> int:
        account = self.repository.get(Account.create_id(number))
        account.withdraw(amount)  # raises InsufficientFunds, saving nothing
        self.save(account)
        return account.balance


def percentile(sorted_values, fraction):
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="/tmp/peer-ledger.sqlite")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--commands", type=int, default=100_000)
    parser.add_argument("--initial-deposit", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-cache", action="store_true", help="turn the library's aggregate cache off")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args()
    A, C, D, S = args.accounts, args.commands, args.initial_deposit, args.seed

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(args.database + suffix):
            os.remove(args.database + suffix)
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": args.database}
    if not args.no_cache:
        env["AGGREGATE_CACHE_MAXSIZE"] = str(A + 1)
    app = Ledger(env=env)

    with app.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute("PRAGMA synchronous")
        synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[cursor.fetchone()[0]]
        cursor.execute("PRAGMA journal_mode")
        journal_mode = cursor.fetchone()[0]

    # Phase open.
    start = time.perf_counter()
    for number in range(A):
        app.open(number, D)
    open_seconds = time.perf_counter() - start

    # Phase operate.
    rng = random.Random(S)
    balances = [D] * A
    deposits = deposit_sum = withdrawals = withdraw_sum = rejected = 0
    latencies = []
    start = time.perf_counter()
    for _ in range(C):
        w1, w2, w3 = rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32)
        number, amount = w1 % A, 1 + w3 % 100
        begin = time.perf_counter()
        if w2 % 2 == 0:
            balances[number] = app.deposit(number, amount)
            deposits += 1
            deposit_sum += amount
        else:
            try:
                balances[number] = app.withdraw(number, amount)
                withdrawals += 1
                withdraw_sum += amount
            except InsufficientFunds:
                rejected += 1
        latencies.append(time.perf_counter() - begin)
    operate_seconds = time.perf_counter() - start
    accepted = deposits + withdrawals
    total = A * D + deposit_sum - withdraw_sum

    # Phase replay: every event of the application sequence, decoded, in order.
    replayed = {}
    events = 0
    start = time.perf_counter()
    position = 1
    while True:
        notifications = app.recorder.select_notifications(start=position, limit=1000)
        if not notifications:
            break
        for notification in notifications:
            domain_event = app.mapper.to_domain_event(notification)
            name = type(domain_event).__name__
            if name == "Opened":
                replayed[domain_event.originator_id] = domain_event.initial_deposit
            elif name == "Deposited":
                replayed[domain_event.originator_id] += domain_event.amount
            elif name == "Withdrawn":
                replayed[domain_event.originator_id] -= domain_event.amount
            else:
                raise RuntimeError(f"unexpected event {name}")
            events += 1
        position = notifications[-1].id + 1
    replay_seconds = time.perf_counter() - start
    app.close()

    failures = []
    if sum(replayed.values()) != total:
        failures.append(f"replayed total {sum(replayed.values())} != {total}")
    if events != A + accepted:
        failures.append(f"events {events} != A + accepted = {A + accepted}")
    for number in range(A):
        if replayed.get(Account.create_id(number)) != balances[number]:
            failures.append(f"account {number}: replayed {replayed.get(Account.create_id(number))} != {balances[number]}")
            break
    if any(balance < 0 for balance in replayed.values()):
        failures.append("a negative balance")

    latencies.sort()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    database_bytes = sum(
        os.path.getsize(args.database + suffix) for suffix in ("", "-wal") if os.path.exists(args.database + suffix))
    report = {
        "peer": "eventsourcing 9.5.6 (Python %s, sqlite %s)" % (sys.version.split()[0], __import__("sqlite3").sqlite_version),
        "synchronous": synchronous,
        "journalMode": journal_mode,
        "aggregateCache": not args.no_cache,
        "accounts": A, "commands": C, "initialDeposit": D, "seed": S, "concurrency": 1,
        "accepted": accepted, "rejected": rejected, "deposits": deposits, "depositSum": deposit_sum,
        "withdrawals": withdrawals, "withdrawSum": withdraw_sum, "total": total, "events": events,
        "openPerSecond": round(A / open_seconds, 1),
        "commandsPerSecond": round(C / operate_seconds, 1),
        "replayEventsPerSecond": round(events / replay_seconds, 1),
        "p50Micros": round(percentile(latencies, 0.50) * 1e6, 1),
        "p99Micros": round(percentile(latencies, 0.99) * 1e6, 1),
        "peakRSSBytes": peak_rss, "databaseBytes": database_bytes, "ok": not failures,
    }
    print(f"eventsourcing peer: A={A} C={C} D={D} S={S}, SQLite journal_mode={journal_mode} synchronous={synchronous}")
    print(f"open     {A} accounts in {open_seconds:.2f} s = {A / open_seconds:,.0f}/s")
    print(f"operate  {C} commands in {operate_seconds:.2f} s = {C / operate_seconds:,.0f} commands/s, "
          f"p50 {report['p50Micros']} µs, p99 {report['p99Micros']} µs")
    print(f"         accepted {accepted} (deposits {deposits} sum {deposit_sum}, withdrawals {withdrawals} "
          f"sum {withdraw_sum}), rejected {rejected}, total {total}")
    print(f"replay   {events} events in {replay_seconds:.2f} s = {events / replay_seconds:,.0f} events/s")
    print(f"peak RSS {peak_rss / 2**20:.1f} MiB, database {database_bytes / 2**20:.1f} MiB")
    for failure in failures:
        print("FAILED:", failure)
    if args.json:
        print(json.dumps(report))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
