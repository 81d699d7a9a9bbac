import ArgumentParser
import Foundation
import WhizbangStore

/// Shows what a store holds: head position, streams and their sizes, event types, the saved projection, or one
/// stream's events.
struct InspectCommand: AsyncParsableCommand, StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show the store's head, streams and sizes, or one stream's events.")

    @OptionGroup var database: DatabaseOption
    @Option(help: "Show this stream's events.") var stream: String?

    func run() async throws {
        // From here a SIGINT, SIGTERM, SIGHUP or SIGPIPE is taken between reads: the store is closed (removing the
        // files the read made beside an SQLite ledger) before the exit, instead of the process ending at once.
        _ = StopSignal()
        try await database.target().with(.existing, self)
    }

    func run<Store: EventStore>(on store: Store, database opened: OpenedDatabase) async throws {
        let g = Formatting.grouped as (Int) -> String
        if let stream {
            let streamID = StreamID(stream)
            var version: UInt64 = 1
            // The events up to the version printed: a run that writes the stream meanwhile cannot keep this going.
            let last = try await store.streamVersion(of: streamID)
            StandardOutput.line("stream \(stream): version \(last)")
            StandardOutput.line("version  position  type  data  command  recorded at")
            let stop = StopSignal()
            while version <= last {
                if let signal = stop.received { throw StopSignal.stoppedReading(by: signal) }
                let events = try await store.readStream(streamID, from: version, direction: .forwards, limit: 1000)
                for event in events where event.streamVersion <= last {
                    let command = try? EnvelopeMetadata.messageID(inStoredForm: event.metadata)
                    StandardOutput.line(
                        "\(event.streamVersion)  \(event.position)  \(event.eventType)  "
                            + "\(String(decoding: event.data, as: UTF8.self))  \(command.map { "\($0)" } ?? "-")  "
                            + "\(event.recordedAt.formatted(.iso8601))")
                    version = event.streamVersion + 1
                }
                if events.count < 1000 { break }
            }
            return
        }
        // Every figure is of the log up to this head: a run that writes meanwhile adds nothing to the counts.
        let head = try await store.headPosition()
        var position: UInt64 = 0
        var sizes: [StreamID: Int] = [:]
        var types: [String: Int] = [:]
        var count = 0
        let stop = StopSignal()
        while position < head {
            if let signal = stop.received { throw StopSignal.stoppedReading(by: signal) }
            let events = try await store.readAll(after: position, limit: 8192)
            for event in events where event.position <= head {
                sizes[event.streamID, default: 0] += 1
                types[event.eventType, default: 0] += 1
                position = event.position
                count += 1
            }
            if events.count < 8192 || events.last.map({ $0.position >= head }) == true { break }
        }
        let saved = try await ProjectionRecord.load(from: store)
        StandardOutput.line("database     \(opened.name) (\(Formatting.mebibytes(await opened.closeAndMeasure())))")
        StandardOutput.line("head         position \(head)")
        StandardOutput.line("events       \(g(count))")
        StandardOutput.line("streams      \(g(sizes.count))")
        if !sizes.isEmpty {
            let counts = sizes.values.sorted()
            StandardOutput.line(
                "stream size  min \(counts.first!), median \(counts[counts.count / 2]), max \(counts.last!), "
                    + "mean \(String(format: "%.1f", Double(count) / Double(sizes.count)))")
            let largest = sizes.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(5)
            StandardOutput.line("largest      " + largest.map { "\($0.key) (\($0.value))" }.joined(separator: ", "))
        }
        for (type, number) in types.sorted(by: { $0.key < $1.key }) {
            StandardOutput.line("type         \(Formatting.padded(type, 22)) \(g(number))")
        }
        if let saved {
            StandardOutput.line(
                "projection   saved at position \(saved.position): \(g(saved.events)) events, total "
                    + "\(g(saved.total)) in \(g(saved.accounts)) accounts")
        }
    }
}
