import ArgumentParser
import Foundation
import WhizbangStore

/// Writes the whole log as JSON Lines, one recorded event per line in global order.
struct ExportCommand: AsyncParsableCommand, StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the log as JSON Lines of recorded events with their metadata.")

    @OptionGroup var database: DatabaseOption
    @Option(help: "The JSON Lines file to write.") var output: String

    func run() async throws {
        try await SampleDatabase(database.database).with(.existing, self)
    }

    func run<Store: EventStore>(on store: Store, database _: OpenedDatabase) async throws {
        guard FileManager.default.createFile(atPath: output, contents: nil),
            let handle = FileHandle(forWritingAtPath: output)
        else { throw SampleError("cannot create \(output)") }
        defer { try? handle.close() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var position: UInt64 = 0
        var count = 0
        while true {
            let events = try await store.readAll(after: position, limit: 8192)
            var chunk = Data()
            for event in events {
                chunk.append(try encoder.encode(ExportedEvent(event)))
                chunk.append(UInt8(ascii: "\n"))
                position = event.position
            }
            do { try handle.write(contentsOf: chunk) } catch {
                throw SampleError("cannot write \(output): \(error.localizedDescription)")
            }
            count += events.count
            if events.count < 8192 { break }
        }
        print("exported \(Formatting.grouped(count)) events to \(output)")
    }
}
