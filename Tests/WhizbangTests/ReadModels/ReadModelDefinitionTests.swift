import Foundation
import Testing
import Whizbang

/// Counts, per account, the events that touch it; a transfer names both of its accounts.
private struct Touches: ReadModelProjection {
    struct Row: Codable, Sendable, Hashable { var count: Int }
    let name = "touches"

    func keys(of event: RecordedEvent) throws -> [String] {
        String(decoding: event.data, as: UTF8.self).split(separator: " ").map(String.init)
    }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        Row(count: (row?.count ?? 0) + 1)
    }
}

@Suite("ReadModelDefinition: the fold every store shares")
struct ReadModelDefinitionTests {
    private func event(_ position: UInt64, _ accounts: String) -> RecordedEvent {
        RecordedEvent(
            streamID: "transfers", streamVersion: position, position: position, eventID: MessageID(),
            eventType: "Transferred", data: Data(accounts.utf8), metadata: Data(), recordedAt: Date())
    }

    @Test func aKeyNamedTwiceForOneEventIsAppliedOnce() throws {
        let definition = ReadModelDefinition(Touches())
        let events = [event(1, "a b"), event(2, "a a"), event(3, "b")]
        #expect(try definition.keys(of: events) == ["a", "b"])
        let changes = try definition.fold(events, into: [:])
        let counts = try changes.map { change in
            (change.key, try JSONDecoder().decode(Touches.Row.self, from: try #require(change.row).body).count)
        }
        #expect(counts.map(\.0) == ["a", "b"])
        #expect(counts.map(\.1) == [2, 2])
    }
}
