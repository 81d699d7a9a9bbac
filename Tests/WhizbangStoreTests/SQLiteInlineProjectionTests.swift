import Foundation
import ProcessTesting
import Synchronization
import Testing
import WhizbangStore

@Suite(.timeLimit(.minutes(5)))
struct SQLiteInlineProjectionTests {
    /// Counts events per stream in a table of the store's own database; refuses events of type "Poison".
    struct EventCounts: SQLiteInlineProjection {
        struct Poisoned: Error {}
        let name = "event-counts"
        let schema = [
            "CREATE TABLE IF NOT EXISTS event_counts (stream TEXT PRIMARY KEY, count INTEGER NOT NULL, last_position INTEGER NOT NULL)"
        ]

        func apply(_ events: [RecordedEvent], in database: SQLiteInlineDatabase) throws {
            for event in events {
                if event.eventType == "Poison" { throw Poisoned() }
                try database.execute(
                    """
                    INSERT INTO event_counts (stream, count, last_position) VALUES (?, 1, ?)
                    ON CONFLICT (stream) DO UPDATE SET count = count + 1, last_position = excluded.last_position
                    """,
                    [.text(event.streamID.rawValue), .integer(Int64(event.position))])
            }
        }
    }

    static var configuration: SQLiteEventStore.Configuration {
        var configuration = SQLiteEventStore.Configuration.testing
        configuration.inlineProjections = [EventCounts()]
        return configuration
    }

    /// The projection's table, read with a plain SQLite connection as any other reader would.
    func counts(_ path: String) throws -> [String: [Int64]] {
        let rows = try executeRawSQL("SELECT stream, count, last_position FROM event_counts", path: path)
        return Dictionary(uniqueKeysWithValues: rows.map { ($0[0], [Int64($0[1])!, Int64($0[2])!]) })
    }

    func events(_ types: String...) -> [EventData] {
        types.map { EventData(eventType: $0, data: Data("{}".utf8)) }
    }

    @Test func theTableIsCurrentWhenTheAppendReturnsAndSurvivesReopening() async throws {
        try await withStore(configuration: Self.configuration) { store, path in
            _ = try await store.append(events("Opened", "Deposited"), to: "a", expectedVersion: .noStream)
            _ = try await store.append(events("Opened"), to: "b", expectedVersion: .noStream)
            _ = try await store.append(events("Deposited"), to: "a", expectedVersion: .exact(2))
            #expect(try counts(path) == ["a": [3, 4], "b": [1, 3]])
            store.close()
            let reopened = try await SQLiteEventStore.open(path: path, configuration: Self.configuration)
            defer { reopened.close() }
            _ = try await reopened.append(events("Deposited"), to: "b", expectedVersion: .exact(1))
            #expect(try counts(path) == ["a": [3, 4], "b": [2, 5]])
        }
    }

    /// Writes each event's data as text and reads it back at once, recording what it read.
    struct Echo: SQLiteInlineProjection {
        final class Seen: Sendable {
            let rows = Mutex<[[SQLiteValue]]>([])
        }
        let name = "echo"
        let schema = ["CREATE TABLE IF NOT EXISTS echo (value TEXT NOT NULL)"]
        let seen: Seen

        func apply(_ events: [RecordedEvent], in database: SQLiteInlineDatabase) throws {
            for event in events {
                let text = String(decoding: event.data, as: UTF8.self)
                try database.execute("INSERT INTO echo (value) VALUES (?)", [.text(text)])
                try database.query("SELECT value, length(CAST(value AS BLOB)) FROM echo ORDER BY rowid DESC LIMIT 1") {
                    row in seen.rows.withLock { $0.append(row) }
                }
            }
        }
    }

    /// Text bound and read through the projection's database keeps a NUL character and what follows it.
    @Test func textWithANulCharacterIsWrittenAndReadWhole() async throws {
        var configuration = SQLiteEventStore.Configuration.testing
        let seen = Echo.Seen()
        configuration.inlineProjections = [Echo(seen: seen)]
        try await withStore(configuration: configuration) { store, _ in
            _ = try await store.append(
                [EventData(eventType: "Noted", data: Data("a\u{0}b".utf8))], to: "a", expectedVersion: .noStream)
            #expect(seen.rows.withLock { $0 } == [[.text("a\u{0}b"), .integer(3)]])
        }
    }

    @Test func aFailingProjectionFailsOnlyItsAppendAndWritesNothing() async throws {
        try await withStore(configuration: Self.configuration) { store, path in
            _ = try await store.append(events("Opened"), to: "a", expectedVersion: .noStream)
            // Many appends race into the same group commits; the poisoned ones fail alone.
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        let type = index % 4 == 0 ? "Poison" : "Deposited"
                        do {
                            _ = try await store.append(events(type), to: StreamID("s\(index)"), expectedVersion: .noStream)
                            return true
                        } catch let error as EventStoreError where error.code == .inlineProjectionFailed {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 30)
            let table = try counts(path)
            #expect(table.count == 31)
            for index in stride(from: 0, to: 40, by: 4) {
                #expect(table["s\(index)"] == nil)
                #expect(try await store.streamVersion(of: StreamID("s\(index)")) == 0)
            }
            #expect(try await store.headPosition() == 31)
            // A stream whose first append failed can still be created.
            _ = try await store.append(events("Opened"), to: "s0", expectedVersion: .noStream)
            #expect(try counts(path)["s0"] == [1, 32])
        }
    }

    @Test func conflictsAndRetriesDoNotReachTheProjection() async throws {
        try await withStore(configuration: Self.configuration) { store, path in
            let opened = events("Opened")
            _ = try await store.append(opened, to: "a", expectedVersion: .noStream)
            _ = try await store.append(opened, to: "a", expectedVersion: .noStream)
            await expectError(.wrongExpectedVersion) {
                _ = try await store.append(events("Deposited"), to: "a", expectedVersion: .noStream)
            }
            #expect(try counts(path) == ["a": [1, 1]])
        }
    }
}
