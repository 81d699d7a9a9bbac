import ArgumentParser
import Foundation
import WhizbangStore

/// Writes the whole log as JSON Lines, one recorded event per line in global order, and last a line that counts them
/// (``ExportEnd``), by which an import tells a whole export from one cut short.
///
/// All or nothing: the lines go to a temporary file (``ExportFile``), which is fsynced and given the output's name
/// only after the whole log was read. An existing output is kept unless `--force`, which replaces only an earlier
/// export (a file whose first line is an exported event), never a ledger or another program's file; Ctrl-C (or
/// SIGTERM) removes the temporary file and exits with 128 + the signal's number.
struct ExportCommand: AsyncParsableCommand, StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the log as JSON Lines of recorded events with their metadata.")

    @OptionGroup var database: DatabaseOption
    @Option(help: "The JSON Lines file to write, or - for standard output.") var output: String
    @Flag(help: "Replace the output file if it is an earlier export (nothing else is ever replaced).") var force = false
    @Flag(help: ArgumentHelp("Print a plain progress line to standard error after each chunk.", visibility: .hidden))
    var progressLines = false

    func validate() throws {
        try PathArgument.check(
            output, option: "--output", naming: "the path of the file to write, or - for standard output",
            dashIsStandardOutput: true)
    }

    func run() async throws {
        if output != "-" {
            try DatabaseFiles.refuse(output, as: "--output", database: database.target())
            switch PathKind(output) {
            case .absent:
                break
            case .regularFile:
                guard force else {
                    throw SampleError.refusal(
                        "\(output) already exists; export leaves it alone: give --output another path, or --force to "
                            + "replace it")
                }
                guard ExportFile.holdsExport(output) else { throw ExportFile.notAnExport(output) }
            case .symbolicLink:
                throw SampleError.refusal(
                    "\(output) is a symbolic link; export replaces only a regular file, never a link or what it names: "
                        + "give --output another path")
            case .directory:
                throw SampleError.refusal("\(output) is a directory; give --output a file's path")
            case .other:
                throw SampleError.refusal(
                    "\(output) is a device, a pipe or a socket, not a file export may replace: give --output a file's "
                        + "path, or - for standard output")
            }
        }
        try await database.target().with(.existing, self)
    }

    func run<Store: EventStore>(on store: Store, database _: OpenedDatabase) async throws {
        let stop = StopSignal()
        // What a stopped export leaves: a file is never given its name; standard output has what it was sent.
        let unwritten =
            output == "-"
            ? "standard output may hold a part of the log, without the end line that import needs"
            : "\(output) was not written"
        for leftover in ExportFile.removeAbandoned(for: output) {
            StandardError.write("removed \(leftover), left by an export that was killed\n")
        }
        let file = try ExportFile(target: output, replacing: force)
        defer { file.discard() }
        let head = try await store.headPosition()
        var progress = ProgressLine(isEnabled: true)
        progress.begin(phase: "export", total: Int(head))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // The export is the log up to the head it began at: appends commit in the order of their positions, so that
        // is one moment's log, whatever is appended while it is read.
        var position: UInt64 = 0
        var count = 0
        while position < head {
            if let signal = stop.received {
                file.discard()
                progress.end()
                StandardError.write("export stopped by signal \(signal); \(unwritten)\n")
                throw ExitCode(stop.exitStatus)
            }
            let events = try await store.readAll(after: position, limit: 8192)
            var chunk = Data()
            var written = 0
            for event in events where event.position <= head {
                guard event.position > position else {
                    throw Self.changedLog(head: head, at: position, met: event, unwritten)
                }
                chunk.append(try encoder.encode(try ExportedEvent(event)))
                chunk.append(UInt8(ascii: "\n"))
                position = event.position
                written += 1
            }
            do {
                try file.write(chunk)
            } catch where stop.received != nil {
                // A write that failed after a stop request (SIGPIPE: the reader of standard output has gone) ends
                // the export as the stop does, at the top of the loop.
                continue
            }
            count += written
            progress.update(done: count)
            if progressLines {
                StandardError.write("export: \(count) events written\n")
            }
            // A read that found nothing up to the head will not find it later.
            if events.count < 8192 || written == 0 { break }
        }
        guard position == head else { throw Self.changedLog(head: head, at: position, met: nil, unwritten) }
        if let signal = stop.received {
            file.discard()
            StandardError.write("export stopped by signal \(signal); \(unwritten)\n")
            throw ExitCode(stop.exitStatus)
        }
        var end = try ExportEnd(events: count).encoded()
        end.append(UInt8(ascii: "\n"))
        do {
            try file.write(end)
        } catch where stop.received != nil {
            file.discard()
            StandardError.write("export stopped by signal \(stop.received ?? 0); \(unwritten)\n")
            throw ExitCode(stop.exitStatus)
        }
        try file.commit()
        progress.end()
        let summary = "exported \(Formatting.grouped(count)) events to \(output == "-" ? "standard output" : output)"
        if output == "-" {
            StandardError.write("\(summary)\n")
        } else {
            StandardOutput.line(summary)
        }
    }

    /// The failure of an export whose reads met a log that is not one moment's: an event at or before the position
    /// already written (`met`), or an end before the head the export began at (`met` is `nil`); `unwritten` says
    /// what the export leaves (a file is never given its name).
    private static func changedLog(head: UInt64, at position: UInt64, met: RecordedEvent?, _ unwritten: String)
        -> SampleError
    {
        let what =
            met.map { "an event at position \($0.position) came after position \(position)" }
            ?? "the log ended at position \(position), before the head \(head) it had when the export began"
        return SampleError.logRead("the log changed while it was exported: \(what); \(unwritten)")
    }
}
