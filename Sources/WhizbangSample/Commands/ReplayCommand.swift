import ArgumentParser
import Foundation
import WhizbangStore

/// Rebuilds the ledger projection from the whole log and reports how fast, with the replay's checks.
struct ReplayCommand: AsyncParsableCommand, StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Rebuild the balances from the log, decoding every event; report events/s.")

    @OptionGroup var database: DatabaseOption
    @Flag(help: "Print one JSON object on the last line.") var json = false
    @Option(help: "Write the replay's charts to this HTML file, which must not exist (it is never replaced).")
    var report: String?

    func validate() throws {
        try PathArgument.check(report, option: "--report", naming: "the path of a new HTML file")
    }

    func run() async throws {
        // From here a SIGINT, SIGTERM, SIGHUP or SIGPIPE is taken between reads: the store is closed (removing the
        // files the read made beside an SQLite ledger) before the exit, instead of the process ending at once.
        _ = StopSignal()
        if let report {
            try DatabaseFiles.refuse(report, as: "--report", database: database.target())
            try ReportFile.checkAbsent(report)
        }
        try await database.target().with(.existing, self)
    }

    func run<Store: EventStore>(on store: Store, database opened: OpenedDatabase) async throws {
        var timeline = ReplayTimeline()
        var replay = LedgerReplay()
        replay.stop = StopSignal()
        let result = try await replay.run(store) { applied, _ in timeline.applied(applied) }
        let projection = result.projection
        let g = Formatting.grouped as (Int) -> String
        StandardOutput.line(
            "replayed \(g(projection.eventCount)) events in \(Formatting.seconds(result.seconds)) s: "
                + "\(Formatting.grouped(result.eventsPerSecond)) events/s")
        StandardOutput.line(
            "accounts \(g(projection.accountCount)), total \(g(projection.total)), deposits \(g(projection.depositCount)) "
                + "(sum \(g(projection.depositSum))), withdrawals \(g(projection.withdrawalCount)) "
                + "(sum \(g(projection.withdrawSum)))")
        for violation in projection.violations { StandardOutput.line("violation: \(violation)") }
        if let report { try ChartReport(replay: result, timeline: timeline, path: opened.name).write(to: report) }
        if json {
            var object = JSONObject()
            object.add("events", projection.eventCount)
            object.add("accounts", projection.accountCount)
            object.add("total", projection.total)
            object.add("replaySeconds", result.seconds)
            object.add("replayEventsPerSecond", result.eventsPerSecond)
            object.add("peakRSSBytes", PeakMemory.bytes)
            object.add("ok", projection.violationCount == 0)
            // JSON for programs, which escapes what it quotes itself.
            print(object.text)
        }
        if projection.violationCount > 0 {
            SampleDatabase.noteOtherNames(of: store, at: opened.name)
            throw ExitCode(1)
        }
    }
}
