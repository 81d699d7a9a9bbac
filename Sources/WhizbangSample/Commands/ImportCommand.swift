import ArgumentParser
import Foundation
import WhizbangStore

/// Reads an export into a new database, giving the same log: event ids, streams, versions and positions.
///
/// All or nothing: the whole file is checked before the database is created, and a write that fails or is
/// interrupted (Ctrl-C, SIGTERM) removes the new database again.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Load a JSON Lines export into a new database (same ids, versions, order).")

    @Option(help: "The JSON Lines file to read.") var input: String
    @OptionGroup var database: DatabaseOption
    @Flag(help: ArgumentHelp("Print a plain progress line to standard error every 1,024 events.", visibility: .hidden))
    var progressLines = false

    func run() async throws {
        let target = try database.target()
        let stop = StopSignal()
        var progress = ProgressLine(isEnabled: true)
        progress.begin(phase: "check \(input) (bytes)", total: 0)
        let file: ImportFile
        do {
            file = try ImportFile.read(
                path: input,
                progress: { bytes, total in
                    progress.begin(phase: "check \(input) (bytes)", total: total, keepingStart: true)
                    progress.update(done: bytes & ~1023)
                },
                stopRequested: { stop.received != nil })
        } catch {
            progress.end()
            if let signal = stop.received {
                FileHandle.standardError.write(Data("import stopped by signal \(signal); nothing was written\n".utf8))
                throw ExitCode(stop.exitStatus)
            }
            throw error
        }
        progress.end()
        try await target.with(.new, Importer(file: file, stop: stop, progressLines: progressLines))
    }
}

/// Appends checked events in order, checking that each lands at its exported position.
private struct Importer: StoreCommand {
    let file: ImportFile
    let stop: StopSignal
    let progressLines: Bool

    func run<Store: EventStore>(on store: Store, database opened: OpenedDatabase) async throws {
        let lines = file.lines
        var progress = ProgressLine(isEnabled: true)
        progress.begin(phase: "import (events)", total: lines.count)
        var start = 0
        var written = 0
        while start < lines.count {
            if let signal = stop.received {
                progress.end()
                FileHandle.standardError.write(
                    Data("import stopped by signal \(signal); the new database \(opened.name) is removed\n".utf8))
                throw ExitCode(stop.exitStatus)
            }
            // Consecutive events of one stream go in one append.
            var end = start + 1
            while end < lines.count, lines[end].event.streamID == lines[start].event.streamID {
                end += 1
            }
            let first = lines[start].event
            let result: AppendResult
            do {
                result = try await store.append(
                    lines[start..<end].map(\.data), to: StreamID(first.streamID),
                    expectedVersion: .exact(first.streamVersion - 1))
            } catch let error as EventStoreError {
                throw SampleError("line \(lines[start].number): cannot append to \(first.streamID): \(OneLine.text(error.message))")
            }
            guard result.positions.lowerBound == first.position, result.positions.count == end - start else {
                throw SampleError(
                    "line \(lines[start].number): the event landed at position \(result.positions.lowerBound), not "
                        + "\(first.position)")
            }
            written += result.positions.count
            if progressLines, written / 1024 != (written - result.positions.count) / 1024 {
                FileHandle.standardError.write(Data("import: \(written) events written\n".utf8))
            }
            progress.update(done: written & ~1023)
            start = end
        }
        progress.end()
        print(
            "imported \(Formatting.grouped(written)) events in \(Formatting.grouped(file.streamCount)) streams into "
                + "\(opened.name)")
    }
}
