import Foundation
import Histogram
import Whizbang

/// The report of a run: per phase count, seconds and rate; outcomes with sums; latency percentiles; file size;
/// peak memory; and the checks of the replay, each passed or failed.
struct RunReport {
    let workload: LedgerWorkload
    let concurrency: Int
    let durability: DurabilityOption
    let statistics: RunStatistics
    let baseline: LedgerProjection
    let replay: LedgerReplay.Result
    let kept: LedgerBalances
    let record: ProjectionRecord
    let databaseBytes: Int
    let peakRSSBytes: Int
    let path: String

    struct Check {
        var passed: Bool
        var description: String
    }

    var projection: LedgerProjection { replay.projection }
    var openPerSecond: Double { rate(statistics.opened + statistics.alreadyOpen, statistics.openSeconds) }
    var commandsPerSecond: Double { rate(workload.commands, statistics.operateSeconds) }

    private func rate(_ count: Int, _ seconds: Double) -> Double { seconds > 0 ? Double(count) / seconds : 0 }

    private func percentile(_ value: Double) -> UInt64 {
        statistics.latency.totalCount == 0 ? 0 : statistics.latency.valueAtPercentile(value)
    }

    var checks: [Check] {
        var checks: [Check] = []
        let inFlight = projection.moneyInFlight - baseline.moneyInFlight
        let expectedTotal = baseline.total + statistics.opened * workload.initialDeposit + statistics.depositSum
            - statistics.withdrawSum - inFlight
        let fresh = baseline.eventCount == 0
        checks.append(
            Check(
                passed: projection.total == expectedTotal,
                description: "total \(Formatting.grouped(projection.total)) = "
                    + (fresh ? "A·D" : "kept total + opened·D") + " + deposits − withdrawals"
                    + (workload.transfers ? " − money in flight" : "")
                    + " (\(Formatting.grouped(expectedTotal)))"))
        let expectedEvents = baseline.eventCount + statistics.eventsWritten
        let formula =
            workload.transfers
            ? "the events the run wrote" : (fresh ? "A + accepted" : "kept events + opened + accepted")
        checks.append(
            Check(
                passed: projection.eventCount == expectedEvents
                    && (workload.transfers || expectedEvents
                        == baseline.eventCount + statistics.opened + statistics.accepted),
                description: "events \(Formatting.grouped(projection.eventCount)) = \(formula) "
                    + "(\(Formatting.grouped(expectedEvents)))"))
        let mismatches = kept.mismatches(with: projection.accountBalances)
        checks.append(
            Check(
                passed: mismatches == 0,
                description: mismatches == 0
                    ? "every balance equals the run's (\(Formatting.grouped(projection.balanceCount)) accounts)"
                    : "\(mismatches) balances differ from the run's"))
        checks.append(
            Check(
                passed: projection.violationCount == 0,
                description: projection.violationCount == 0
                    ? "no negative balance, versions contiguous, positions increasing"
                    : "\(projection.violationCount) violations, first: \(projection.violations.first ?? "")"))
        checks.append(
            Check(
                passed: replay.summary == record,
                description: replay.summary == record
                    ? "the saved projection equals a fresh replay" : "the saved projection differs from the replay"))
        if workload.transfers {
            checks.append(
                Check(
                    passed: projection.unfinishedTransfers == baseline.unfinishedTransfers,
                    description: "every transfer completed, failed or was compensated "
                        + "(\(projection.unfinishedTransfers) unfinished)"))
        }
        return checks
    }

    var failures: [String] { checks.filter { !$0.passed }.map(\.description) }

    var text: String {
        let g = Formatting.grouped as (Int) -> String
        var lines: [String] = []
        lines.append("Whizbang sample: the bank ledger on \(path)")
        lines.append(
            "  accounts \(g(workload.accounts)), commands \(g(workload.commands)), initial deposit "
                + "\(g(workload.initialDeposit)), seed \(workload.seed), concurrency \(concurrency), durability "
                + "\(durability.rawValue)\(workload.transfers ? ", with transfers" : "")")
        lines.append("")
        func row(_ cells: [String]) -> String {
            Formatting.padded(cells[0], 10) + Formatting.leftPadded(cells[1], 12) + Formatting.leftPadded(cells[2], 10)
                + Formatting.leftPadded(cells[3], 14)
        }
        lines.append(row(["phase", "count", "seconds", "per second"]))
        lines.append(
            row([
                "open", g(statistics.opened + statistics.alreadyOpen), Formatting.seconds(statistics.openSeconds),
                Formatting.grouped(openPerSecond),
            ]))
        lines.append(
            row([
                "operate", g(workload.commands), Formatting.seconds(statistics.operateSeconds),
                Formatting.grouped(commandsPerSecond),
            ]))
        lines.append(
            row([
                "replay", g(projection.eventCount), Formatting.seconds(replay.seconds),
                Formatting.grouped(replay.eventsPerSecond),
            ]))
        lines.append("")
        if statistics.alreadyOpen > 0 { lines.append("accounts already open   \(g(statistics.alreadyOpen))") }
        lines.append(
            "commands    accepted \(g(statistics.accepted)), rejected \(g(statistics.rejectedCommands))")
        lines.append("deposits    \(g(statistics.deposits)), sum \(g(statistics.depositSum))")
        lines.append("withdrawals \(g(statistics.withdrawals)), sum \(g(statistics.withdrawSum))")
        lines.append(
            "rejected    \(g(statistics.rejected)) withdrawals over the balance, sum \(g(statistics.rejectedSum))")
        if workload.transfers {
            lines.append(
                "transfers   \(g(statistics.transfersCompleted)) completed (sum \(g(statistics.transferSum))), "
                    + "\(g(statistics.transfersCompensated)) compensated, \(g(statistics.transfersFailed)) failed")
        }
        lines.append("total       \(g(projection.total)) in \(g(projection.accountCount)) accounts")
        lines.append("events      \(g(projection.eventCount))")
        lines.append(
            "latency     p50 \(percentile(50)) µs, p90 \(percentile(90)) µs, p99 \(percentile(99)) µs, "
                + "p99.9 \(percentile(99.9)) µs, max \(statistics.latency.max) µs")
        let wal = LedgerStore.walBytes(path: path)
        lines.append(
            "database    \(Formatting.mebibytes(databaseBytes - wal)) file"
                + (wal > 0 ? " + \(Formatting.mebibytes(wal)) WAL left by the store" : ""))
        lines.append("peak memory \(Formatting.mebibytes(peakRSSBytes))")
        lines.append("")
        lines.append("checks")
        for check in checks { lines.append("  \(check.passed ? "ok  " : "FAIL") \(check.description)") }
        lines.append(failures.isEmpty ? "all checks passed" : "\(failures.count) checks FAILED")
        return lines.joined(separator: "\n")
    }

    var json: String {
        var object = JSONObject()
        object.add("accounts", workload.accounts)
        object.add("commands", workload.commands)
        object.add("initialDeposit", workload.initialDeposit)
        object.add("seed", workload.seed)
        object.add("concurrency", concurrency)
        object.add("durability", durability.rawValue)
        object.add("transfers", workload.transfers)
        object.add("accepted", statistics.accepted)
        object.add("rejected", statistics.rejectedCommands)
        object.add("deposits", statistics.deposits)
        object.add("depositSum", statistics.depositSum)
        object.add("withdrawals", statistics.withdrawals)
        object.add("withdrawSum", statistics.withdrawSum)
        object.add("rejectedSum", statistics.rejectedSum)
        object.add("transfersCompleted", statistics.transfersCompleted)
        object.add("transfersCompensated", statistics.transfersCompensated)
        object.add("transfersFailed", statistics.transfersFailed)
        object.add("total", projection.total)
        object.add("events", projection.eventCount)
        object.add("openSeconds", statistics.openSeconds)
        object.add("openPerSecond", openPerSecond)
        object.add("operateSeconds", statistics.operateSeconds)
        object.add("commandsPerSecond", commandsPerSecond)
        object.add("replaySeconds", replay.seconds)
        object.add("replayEventsPerSecond", replay.eventsPerSecond)
        object.add("p50Micros", percentile(50))
        object.add("p90Micros", percentile(90))
        object.add("p99Micros", percentile(99))
        object.add("p999Micros", percentile(99.9))
        object.add("peakRSSBytes", peakRSSBytes)
        object.add("databaseBytes", databaseBytes)
        object.add("walBytes", LedgerStore.walBytes(path: path))
        object.add("failures", failures)
        object.add("ok", failures.isEmpty)
        return object.text
    }
}
