import Foundation
import Testing
import WhizbangPostgres

/// Global order without gaps under concurrent appends from several stores, as from several processes.
@Suite(
    "PostgresEventStore global order",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    // One store at a time in this suite: 65 checks starting together would open hundreds of connections at once.
    .serialized,
    .timeLimit(.minutes(10))
)
struct PostgresGlobalOrderTests {
    /// 16 appenders spread over 4 stores on one schema (4 writers, so transactions really commit concurrently)
    /// write 100,000 events while a subscriber checks that positions arrive dense, 1...N, in order, and that each
    /// stream's versions arrive in order.
    @Test func subscriberNeverSeesAGap() async throws {
        let appenders = 16
        let eventsPerAppender = 6_250
        let storeCount = 4
        let total = appenders * eventsPerAppender
        let configuration = try PostgresTestServer.configuration()
        // The test is about order, not about four stores migrating one schema at once: under a loaded suite, the
        // three that wait for the first one's migration could miss their start's request timeout.
        try await PostgresTestServer.createTables(configuration)
        let stores = try (0..<storeCount).map { _ in try PostgresEventStore(configuration: configuration) }
        defer { for store in stores { store.close() } }

        try await withThrowingTaskGroup(of: Void.self) { running in
            for store in stores { running.addTask { try await store.run() } }

            let received = try await withThrowingTaskGroup(of: Int?.self) { group in
                group.addTask {
                    var expected: UInt64 = 1
                    var versions: [StreamID: UInt64] = [:]
                    for try await event in stores[0].subscribe(after: 0, batchSize: 1_000) {
                        guard event.position == expected else {
                            Issue.record("position \(event.position) arrived where \(expected) was due")
                            return nil
                        }
                        let version = versions[event.streamID, default: 0] + 1
                        guard event.streamVersion == version else {
                            Issue.record("'\(event.streamID)' version \(event.streamVersion) arrived where \(version) was due")
                            return nil
                        }
                        versions[event.streamID] = version
                        if expected == UInt64(total) { return Int(expected) }
                        expected += 1
                    }
                    return nil
                }
                for appender in 0..<appenders {
                    group.addTask {
                        let store = stores[appender % storeCount]
                        let streamID = StreamID("appender-\(appender)")
                        var written = 0
                        var round = 0
                        while written < eventsPerAppender {
                            // Appends of 1 to 4 events, so batches mix sizes.
                            let count = min(1 + round % 4, eventsPerAppender - written)
                            let result = try await store.append(
                                makeEvents(count), to: streamID, expectedVersion: .exact(UInt64(written)))
                            #expect(result.streamVersion == UInt64(written + count))
                            written += count
                            round += 1
                        }
                        return nil
                    }
                }
                var received: Int?
                for try await value in group where value != nil { received = value }
                return received
            }
            #expect(received == total)
            #expect(try await stores[1].headPosition() == UInt64(total))
            for store in stores { store.close() }
            try await running.waitForAll()
        }
        try await PostgresTestServer.dropSchema(configuration)
    }

    /// A store's waiter is woken by another store's append through a notification.
    @Test func anotherStoresAppendWakesAWaiter() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await PostgresTestServer.createTables(configuration)
        let waiting = try PostgresEventStore(configuration: configuration)
        let appending = try PostgresEventStore(configuration: configuration)
        defer {
            waiting.close()
            appending.close()
        }
        try await withThrowingTaskGroup(of: Void.self) { running in
            running.addTask { try await waiting.run() }
            running.addTask { try await appending.run() }
            _ = try await appending.append(makeEvents(1), to: "s", expectedVersion: .noStream)
            // Once the waiting store has seen position 1 it must learn of 2 from the other store alone.
            try await waiting.waitForEvents(after: 0)
            async let woken: Void = waiting.waitForEvents(after: 1)
            _ = try await appending.append(makeEvents(1), to: "s", expectedVersion: .exact(1))
            try await woken
            waiting.close()
            appending.close()
            try await running.waitForAll()
        }
        try await PostgresTestServer.dropSchema(configuration)
    }
}
