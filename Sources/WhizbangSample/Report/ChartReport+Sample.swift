import Foundation
import Histogram

extension ChartReport {
    /// The pictures of a ledger run's operate phase: commands per second, command latency over time and its
    /// histogram, with the figures the text report and `--json` print.
    init(run report: RunReport) {
        let latency = report.statistics.latency
        func percentile(_ value: Double) -> UInt64 { latency.totalCount == 0 ? 0 : latency.valueAtPercentile(value) }
        func microseconds(_ id: String, _ label: String, _ value: UInt64) -> Figure {
            Figure(id: id, label: label, value: "\(value)", text: "\(Formatting.grouped(Int(value))) µs")
        }
        let workload = report.workload
        self.init(
            title: "Whizbang sample: a ledger run",
            subject: "\(report.path): \(Formatting.grouped(workload.accounts)) accounts, concurrency "
                + "\(report.concurrency), durability \(report.durability.rawValue)"
                + (workload.transfers ? ", with transfers" : ""),
            figures: [
                Figure(
                    id: "commands", label: "commands", value: "\(workload.commands)",
                    text: Formatting.grouped(workload.commands)),
                Figure(
                    id: "accepted", label: "accepted", value: "\(report.statistics.accepted)",
                    text: Formatting.grouped(report.statistics.accepted)),
                Figure(
                    id: "rejected", label: "rejected", value: "\(report.statistics.rejectedCommands)",
                    text: Formatting.grouped(report.statistics.rejectedCommands)),
                Figure(
                    id: "operate-seconds", label: "seconds", value: String(format: "%.1f", report.statistics.operateSeconds),
                    text: Formatting.seconds(report.statistics.operateSeconds)),
                Figure(
                    id: "commands-per-second", label: "commands per second",
                    value: String(format: "%.1f", report.commandsPerSecond),
                    text: Formatting.grouped(report.commandsPerSecond)),
                microseconds("p50", "latency p50", percentile(50)),
                microseconds("p90", "latency p90", percentile(90)),
                microseconds("p99", "latency p99", percentile(99)),
                microseconds("p999", "latency p99.9", percentile(99.9)),
                microseconds("max", "latency max", latency.max),
            ],
            rateNoun: "commands", latencyNoun: "command latency", timeline: report.statistics.timeline,
            latency: latency)
    }

    /// The pictures of a replay: events applied per second, and the time per batch of events over time and as a
    /// histogram.
    init(replay result: LedgerReplay.Result, timeline: ReplayTimeline, path: String) {
        self.init(
            title: "Whizbang sample: a replay",
            subject: "\(path): \(Formatting.grouped(result.projection.accountCount)) accounts",
            figures: [
                Figure(
                    id: "events", label: "events", value: "\(result.projection.eventCount)",
                    text: Formatting.grouped(result.projection.eventCount)),
                Figure(
                    id: "replay-seconds", label: "seconds", value: String(format: "%.1f", result.seconds),
                    text: Formatting.seconds(result.seconds)),
                Figure(
                    id: "events-per-second", label: "events per second",
                    value: String(format: "%.1f", result.eventsPerSecond),
                    text: Formatting.grouped(result.eventsPerSecond)),
                Figure(
                    id: "batches", label: "batches", value: "\(timeline.batchTimes.totalCount)",
                    text: Formatting.grouped(Int(timeline.batchTimes.totalCount))),
            ],
            rateNoun: "events", latencyNoun: "batch time", timeline: timeline.timeline, latency: timeline.batchTimes)
    }

    /// Writes the report to `path`, which must not exist (see ``ReportFile``), and prints where it is.
    func write(to path: String) throws {
        try ReportFile.write(html, to: path)
        StandardOutput.line("report: \(path)")
    }
}
