import ArgumentParser
import Foundation
import WhizbangStore

/// Reads an export into a new database, giving the same log: event ids, streams, versions and positions.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Load a JSON Lines export into a new database (same ids, versions, order).")

    @Option(help: "The JSON Lines file to read.") var input: String
    @OptionGroup var database: DatabaseOption

    func run() async throws {
        guard let contents = FileManager.default.contents(atPath: input) else {
            throw SampleError("cannot read \(input)")
        }
        let decoder = JSONDecoder()
        var events: [ExportedEvent] = []
        for (index, line) in contents.split(separator: UInt8(ascii: "\n")).enumerated() where !line.isEmpty {
            do {
                events.append(try decoder.decode(ExportedEvent.self, from: Data(line)))
            } catch {
                throw SampleError("\(input) line \(index + 1) is not an exported event")
            }
        }
        try await SampleDatabase(database.database).with(.new, Importer(events: events))
    }
}

/// Appends exported events in order, checking that each lands at its exported position.
private struct Importer: StoreCommand {
    let events: [ExportedEvent]

    func run<Store: EventStore>(on store: Store, database opened: OpenedDatabase) async throws {
        var start = 0
        while start < events.count {
            // Consecutive events of one stream go in one append.
            var end = start + 1
            while end < events.count, events[end].streamID == events[start].streamID,
                events[end].streamVersion == events[end - 1].streamVersion + 1
            {
                end += 1
            }
            let first = events[start]
            let data = try (start..<end).map { try events[$0].eventData(line: $0 + 1) }
            let result: AppendResult
            do {
                result = try await store.append(
                    data, to: StreamID(first.streamID), expectedVersion: .exact(first.streamVersion - 1))
            } catch {
                throw SampleError("line \(start + 1): cannot append to \(first.streamID): \(error)")
            }
            guard result.positions.lowerBound == first.position, result.positions.count == end - start else {
                throw SampleError(
                    "line \(start + 1): the event landed at position \(result.positions.lowerBound), not "
                        + "\(first.position); the export has gaps or is out of order")
            }
            start = end
        }
        print("imported \(Formatting.grouped(events.count)) events into \(opened.name)")
    }
}
