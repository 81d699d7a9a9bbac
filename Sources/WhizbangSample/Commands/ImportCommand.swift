import ArgumentParser
import Foundation
import Synchronization
import WhizbangPostgres
import WhizbangStore

/// Reads an export into a new database, giving the same log: event ids, streams, versions, positions and recording
/// times, so that exporting the new database gives the same file byte for byte.
///
/// All or nothing: the whole file is checked before anything is written. On SQLite the store's restore builds the
/// database under a temporary name beside the target and names it only once complete, so even a killed import leaves
/// nothing at the target (a later import removes the marked temporary store it left); a write that fails or is
/// interrupted (Ctrl-C, SIGTERM) removes it at once. On PostgreSQL the restore creates the store's tables and fills
/// them in one transaction, which first refuses, as a run that creates a ledger does, while the schema's cluster holds
/// state of a log or a live node's leases (``LedgerClusterState``): nothing is changed then, the cluster included.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Load a JSON Lines export into a new database (same ids, versions, order).")

    @Option(help: "The JSON Lines file to read.") var input: String
    @Flag(
        help: """
            Take a file without the export's end line, as exports made before the sample wrote it are; a file cut \
            short at a line's end then imports as a shorter log.
            """)
    var allowMissingEndLine = false
    @OptionGroup var database: DatabaseOption
    @Flag(
        help: ArgumentHelp(
            "Print a plain progress line to standard error every 1,024 lines checked and every 4,096 events written.",
            visibility: .hidden))
    var progressLines = false

    func validate() throws {
        try PathArgument.check(input, option: "--input", naming: "the path of an export to read")
    }

    func run() async throws {
        let target = try database.target()
        // What was at the target before the file was read, to tell a target given by mistake from one that another
        // import or run made meanwhile.
        var wasAbsent = false
        if case .sqlite(let path) = target { wasAbsent = !SQLiteEventStore.inspectFile(at: path).exists }
        let stop = StopSignal()
        var progress = ProgressLine(isEnabled: true)
        progress.begin(phase: "check \(input) (bytes)", total: 0)
        let file: ImportFile
        do {
            file = try ImportFile.read(
                path: input,
                requiringEnd: !allowMissingEndLine,
                progress: { bytes, total in
                    progress.begin(phase: "check \(input) (bytes)", total: total, keepingStart: true)
                    progress.update(done: bytes & ~1023)
                    if progressLines {
                        StandardError.write("check: \(bytes) bytes checked\n")
                    }
                },
                stopRequested: { stop.received != nil })
        } catch {
            progress.end()
            if let signal = stop.received {
                StandardError.write("import stopped by signal \(signal); nothing was written\n")
                throw ExitCode(stop.exitStatus)
            }
            throw error
        }
        progress.end()
        try await write(file, to: target, wasAbsent: wasAbsent, stop: stop)
    }

    /// Writes the checked file into a new store with the store's restore, which keeps every exported field; the
    /// import's mark goes in with it (``LedgerMark/importConsumer``: `run` never starts an imported log over).
    ///
    /// - Parameter wasAbsent: whether nothing was at the SQLite target when the import started.
    private func write(_ file: ImportFile, to target: SampleDatabase, wasAbsent: Bool, stop: StopSignal) async throws {
        let events = file.events
        let progress = Mutex(ProgressLine(isEnabled: true))
        progress.withLock { $0.begin(phase: "import (events)", total: events.count) }
        let progressLines = progressLines
        let report: @Sendable (Int) -> Bool = { written in
            progress.withLock { $0.update(done: written) }
            if progressLines {
                StandardError.write("import: \(written) events written\n")
            }
            return stop.received == nil
        }
        // A ledger of its own: an ack log of the exported ledger is not this one's (`LedgerIdentity`).
        let checkpoints = [LedgerMark.importConsumer: UInt64(0), LedgerIdentity.consumer: LedgerIdentity.new()]
        let written: Int
        do {
            switch target {
            case .sqlite(let path):
                let found = SQLiteEventStore.inspectFile(at: path)
                guard !found.exists else {
                    if wasAbsent { throw Self.madeMeanwhile(path, found: found) }
                    throw SampleError.refusal(
                        "\(path) already exists (it is \(found.description)); import writes a new database: give "
                            + "--database a path that does not exist")
                }
                try LedgerStore.removeLeftovers(for: path)
                do {
                    written = try await SQLiteEventStore.restore(
                        events, checkpoints: checkpoints, to: path,
                        configuration: LedgerStore.configuration(durability: .normal), progress: report)
                } catch let error as EventStoreError where error.code == .invalidArgument {
                    // Refused with `path` left as it was, which held nothing a moment before: what is there now,
                    // another import or run put there while this one wrote.
                    let now = SQLiteEventStore.inspectFile(at: path)
                    guard now.exists else { throw error }
                    throw Self.madeMeanwhile(path, found: now)
                }
            case .postgres(let configuration):
                let found = try await PostgresProblem.mapping(configuration) {
                    try await PostgresEventStore.inspectSchema(configuration: configuration)
                }
                guard !found.holdsStore, found.otherObjects.isEmpty else {
                    throw SampleError.refusal(
                        "\(found.description) in \(configuration); import writes a new store: give --database another "
                            + "schema (?schema=NAME)")
                }
                // A connection lost while the transaction commits leaves its outcome unknown to the client.
                let outcome =
                    "the import is one transaction, so \(configuration.schema) holds the whole log or nothing of it: "
                    + "`inspect --database` tells which, and importing again is refused if it is there"
                written = try await PostgresProblem.mapping(configuration, changes: outcome) {
                    try await PostgresEventStore.restore(
                        events, checkpoints: checkpoints, configuration: configuration,
                        refusal: LedgerClusterState.refusal(creatingLedgerIn: configuration, by: "import"),
                        progress: report)
                }
            }
        } catch is CancellationError {
            progress.withLock { $0.end() }
            StandardError.write(
                "import stopped by signal \(stop.received ?? 0); nothing was written to \(target.name)\n")
            throw ExitCode(stop.exitStatus)
        } catch let error as SampleError {
            progress.withLock { $0.end() }
            throw error
        } catch let error as EventStoreError {
            progress.withLock { $0.end() }
            throw SampleError(
                "cannot import into \(target.name): \(OneLine.text(error.message)); nothing was written there",
                exitStatus: error.code == .invalidArgument ? 2 : 1)
        }
        progress.withLock { $0.end() }
        StandardOutput.line(
            "imported \(Formatting.grouped(written)) events in \(Formatting.grouped(file.streamCount)) streams into "
                + "\(target.name)")
    }

    /// The refusal of an SQLite target that held nothing when this import started and holds `found` now: another
    /// import or run made it while this one read and wrote, and the user gave no path that was taken.
    private static func madeMeanwhile(_ path: String, found: SQLiteStoreFile) -> SampleError {
        SampleError.refusal(
            "\(path) was made by another import or run while this import ran (it is now \(found.description)); this "
                + "import changed nothing and left it as it is: see what it holds with inspect, or import again with "
                + "--database a path that nothing else uses")
    }
}
