import ArgumentParser
import Foundation
import WhizbangStore

/// Checks a ledger log: versions contiguous per stream, positions increasing, money conserved, no negative
/// balance, no command recorded twice, the saved projection equal to a fresh replay, an SQLite file that passes
/// SQLite's `PRAGMA integrity_check` and, given the ledger's ack log, every acknowledged command stored. The command
/// ids read from the events' metadata are kept for the whole log (some 40 bytes each), to find one recorded twice. An
/// ack log whose first line names another ledger is refused (exit status 2) before anything is checked: its commands
/// are not this ledger's, and would read as lost.
struct VerifyCommand: AsyncParsableCommand, StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check the log's invariants; exit non-zero naming each violation.")

    @OptionGroup var database: DatabaseOption
    @Option(
        help: ArgumentHelp(
            "The ack log 'run --ack-log' wrote for this ledger: check that every acknowledged command's events are "
                + "stored (an ack log of another ledger is refused)."))
    var ackLog: String?

    func validate() throws {
        try PathArgument.check(
            ackLog, option: "--ack-log", naming: "the path of the ack log that 'run --ack-log' wrote")
    }

    func run() async throws {
        // From here a SIGINT, SIGTERM, SIGHUP or SIGPIPE is taken between reads: the store is closed (removing the
        // files the read made beside an SQLite ledger) before the exit, instead of the process ending at once.
        _ = StopSignal()
        try await database.target().with(.existing, self)
    }

    func run<Store: EventStore>(on store: Store, database opened: OpenedDatabase) async throws {
        let contents = try ackLog.map { try AckLogContents(path: $0) }
        if let ackLog, let named = contents?.ledger {
            let identity = try await LedgerIdentity.read(in: store)
            guard identity == named else {
                throw AckLog.otherLedger(ackLog, names: named, database: opened.name, holds: identity, by: .verify)
            }
        }
        let acknowledged = contents?.entries
        let saved = try await ProjectionRecord.load(from: store)
        var replay = LedgerReplay()
        replay.stop = StopSignal()
        replay.collectCommandIDs = true
        replay.summaryPosition = saved?.position
        let result = try await replay.run(store)
        let projection = result.projection

        var problems = projection.violations
        if projection.violationCount > projection.violations.count {
            problems.append("… and \(projection.violationCount - projection.violations.count) more violations")
        }
        // Damage that the log's reads can miss (an index that lacks a row of its table), found by SQLite's own check,
        // which stops at 100 problems.
        let integrity = try await Self.integrityProblems(of: store, stop: replay.stop)
        problems += integrity.prefix(10).map { "the SQLite file is damaged: \($0)" }
        if integrity.count > 10 {
            problems.append(
                "… \(integrity.count >= 100 ? "100 or more" : "\(integrity.count)") problems in all in the SQLite file")
        }
        let expectedTotal =
            projection.openedSum &+ projection.depositSum &- projection.withdrawSum &- projection.moneyInFlight
        if !projection.overflowed, projection.total != expectedTotal {
            problems.append(
                "money is not conserved: balances sum to \(projection.total), the events to \(expectedTotal)")
        }
        if let saved {
            if saved.position > result.head {
                problems.append("the saved projection is at position \(saved.position), past the head \(result.head)")
            } else if result.summary != saved {
                problems.append(
                    "the saved projection at position \(saved.position) differs from a fresh replay "
                        + "(saved \(saved), replayed \(result.summary.map { "\($0)" } ?? "nothing"))")
            }
        }
        var missing = 0
        if let acknowledged {
            for (messageID, streamID) in acknowledged where projection.stream(ofCommand: messageID) != streamID {
                missing += 1
                if missing <= 10 {
                    problems.append("acknowledged command \(messageID) to \(streamID) has no stored events")
                }
            }
            if missing > 10 { problems.append("… \(missing) acknowledged commands in all have no stored events") }
            if missing > 0, contents?.ledger == nil {
                problems.append(
                    "the ack log does not name its ledger (an older version of the sample wrote it): if it is another "
                        + "ledger's, its commands are missing from this one without being lost")
            }
        }
        let g = Formatting.grouped as (Int) -> String
        StandardOutput.line(
            "verified \(g(projection.eventCount)) events in \(g(projection.streamCount)) streams up to position "
                + "\(result.head): total \(g(projection.total)) in \(g(projection.accountCount)) accounts"
                + (projection.moneyInFlight != 0 ? ", \(g(projection.moneyInFlight)) in flight" : "")
                + (saved != nil ? ", saved projection at \(saved!.position) checked" : "")
                + (Self.isSQLite(store) ? ", SQLite file checked" : "")
                + (acknowledged.map { ", \(g($0.count)) acknowledged commands checked" } ?? ""))
        if projection.eventsWithoutCommandID > 0 {
            StandardOutput.line(
                "\(g(projection.eventsWithoutCommandID)) events carry no readable command id, so they were not checked "
                    + "for a command recorded twice")
        }
        if problems.isEmpty {
            StandardOutput.line("ok")
            return
        }
        for problem in problems { StandardOutput.line("violation: \(problem)") }
        SampleDatabase.noteOtherNames(of: store, at: opened.name)
        throw ExitCode(1)
    }

    private static func isSQLite(_ store: some EventStore) -> Bool {
        store is SQLiteReadOnlyEventStore || store is SQLiteEventStore
    }

    /// What `PRAGMA integrity_check` reports of an SQLite ledger; nothing for another store. A stop signal received
    /// meanwhile cancels the check (a whole-file read) and ends the command as a stopped read.
    private static func integrityProblems(of store: some EventStore, stop: StopSignal?) async throws -> [String] {
        let check: @Sendable () async throws -> [String]
        if let store = store as? SQLiteReadOnlyEventStore {
            check = { try await store.integrityCheck() }
        } else if let store = store as? SQLiteEventStore {
            check = { try await store.integrityCheck() }
        } else {
            return []
        }
        if let signal = stop?.received { throw StopSignal.stoppedReading(by: signal) }
        let reading = Task { try await check() }
        // Looks for a stop signal every 50 ms while the check reads.
        let watching = Task {
            while !Task.isCancelled, stop?.received == nil { try? await Task.sleep(for: .milliseconds(50)) }
            if stop?.received != nil { reading.cancel() }
        }
        defer { watching.cancel() }
        do {
            let problems = try await reading.value
            if let signal = stop?.received { throw StopSignal.stoppedReading(by: signal) }
            return problems
        } catch {
            if let signal = stop?.received { throw StopSignal.stoppedReading(by: signal) }
            throw error
        }
    }
}
