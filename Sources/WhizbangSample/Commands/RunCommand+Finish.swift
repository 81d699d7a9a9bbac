import ArgumentParser
import Foundation
import Whizbang
import WhizbangStore

extension RunCommand {
    /// Ends a run, local or through a cluster, once its commands have finished.
    ///
    /// A run stopped by a signal ends here without the report: every command admitted before the signal has
    /// finished and is durable. Otherwise the run's projection record is saved, the log is replayed and checked
    /// against the balances the run kept, and the report is printed; a failed check is exit status 1.
    func finish<Store: EventStore>(
        on store: Store, database opened: OpenedDatabase, stop: StopSignal, workload: LedgerWorkload,
        baseline: LedgerProjection, statistics: RunStatistics, kept: LedgerBalances, progress: ProgressLine
    ) async throws {
        if let signal = stop.received {
            opened.close()
            let done = statistics.accepted + statistics.rejectedCommands
            StandardError.write(
                "stopped by signal \(signal) after \(done) commands; every acknowledged command is durable\n")
            throw ExitCode(stop.exitStatus)
        }

        let head = try await store.headPosition()
        let record = ProjectionRecord(
            position: head, events: baseline.eventCount + statistics.eventsWritten, total: kept.total,
            accounts: baseline.accountCount + statistics.opened, digest: kept.digest)
        try await record.save(to: store)

        var progress = progress
        progress.begin(phase: "replay", total: Int(head))
        var replay = LedgerReplay()
        replay.summaryPosition = head
        replay.expectedStreamCount = baseline.streamCount + statistics.opened
        let replayed: LedgerReplay.Result
        let databaseBytes: Int
        if let openForReading = opened.openForReading {
            // Closed first, the store's caches are gone before the replay builds its projection.
            databaseBytes = await opened.closeAndMeasure()
            FreeMemory.returnToSystem()
            let reader = try await openForReading()
            defer { reader.close() }
            replayed = try await replay.run(reader) { applied, _ in progress.update(done: applied) }
        } else {
            replayed = try await replay.run(store) { applied, _ in progress.update(done: applied) }
            databaseBytes = await opened.closeAndMeasure()
        }
        progress.end()

        let report = RunReport(
            workload: workload, concurrency: concurrency, durability: durability, statistics: statistics,
            baseline: baseline, replay: replayed, kept: kept, record: record,
            databaseBytes: databaseBytes, peakRSSBytes: PeakMemory.bytes, path: opened.name)
        // Its violation lines may quote a stream id: each line written as the log's text is.
        for line in report.text.split(separator: "\n", omittingEmptySubsequences: false) {
            StandardOutput.line(String(line))
        }
        if let path = self.report { try ChartReport(run: report).write(to: path) }
        if json { print(report.json) }
        if !report.failures.isEmpty { throw ExitCode(1) }
    }
}
