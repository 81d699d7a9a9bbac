import Foundation
import Synchronization
import Testing
import WhizbangStore

/// `close()` called from code the store runs on its own threads: an inline projection on the writer's thread, a
/// reduction on a reader's. Before, the call waited for that very thread to stop: the writer (and every append and
/// `shutdown()` behind it) or the reader hung for ever.
@Suite("SQLite store closed from its own threads", .timeLimit(.minutes(5)))
struct SQLiteCloseFromOwnThreadTests {
    /// The store, once opened: the projection is configured before it exists.
    final class StoreBox: Sendable {
        let store = Mutex<SQLiteEventStore?>(nil)
    }

    /// Closes the store when it applies an event of type "Close".
    struct ClosingProjection: SQLiteInlineProjection {
        let box: StoreBox
        let name = "closing"
        let schema: [String] = []

        func apply(_ events: [RecordedEvent], in database: SQLiteInlineDatabase) throws {
            guard events.contains(where: { $0.eventType == "Close" }) else { return }
            box.store.withLock { $0 }?.close()
        }
    }

    @Test("close() in an inline projection returns; the append under way commits, later ones fail as closed")
    func closeOnTheWriterThread() async throws {
        let box = StoreBox()
        var configuration = SQLiteEventStore.Configuration.testing
        configuration.inlineProjections = [ClosingProjection(box: box)]
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            box.store.withLock { $0 = store }
            defer { box.store.withLock { $0 = nil } }
            let closing = [EventData(eventType: "Close", data: Data("{}".utf8))]
            let appended = try await store.append(closing, to: "a", expectedVersion: .noStream)
            #expect(appended.streamVersion == 1)
            // Refused at once, before the close has finished.
            let later = await #expect(throws: EventStoreError.self) {
                try await store.append(closing, to: "b", expectedVersion: .noStream)
            }
            #expect(later?.code == .closed)
            // A close() elsewhere returns once the store is closed: no connection holds the file any more.
            store.close()
            try SQLiteEventStore.destroyStore(at: path)
            await store.shutdown()
        }
    }

    @Test("close() in a reduction returns; the read ends, and shutdown() returns")
    func closeOnAReaderThread() async throws {
        try await withStore { store, _ in
            _ = try await store.append(
                [EventData(eventType: "Opened", data: Data("{}".utf8))], to: "a", expectedVersion: .noStream)
            let count = try await store.reduceAll(after: 0, limit: 10, into: 0) { count, _ in
                store.close()
                count += 1
            }
            #expect(count == 1)
            await #expect(throws: EventStoreError.self) { try await store.headPosition() }
            await store.shutdown()
        }
    }
}
