import Foundation
import Testing
@testable import WhizbangPostgres

/// A PostgreSQL subscription rides out lost connections and a server that does not answer, ends after a configured
/// outage limit, and stops at once when its task is cancelled.
@Suite(
    "PostgresSubscription",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .serialized,
    .timeLimit(.minutes(5))
)
struct PostgresSubscriptionTests {
    @Test func resumesAfterALostConnectionFromItsLastPosition() async throws {
        var configuration = try PostgresTestServer.configuration()
        configuration.requestTimeout = .seconds(5)
        configuration.maximumRetryDelay = .milliseconds(100)
        try await PostgresTestServer.createTables(configuration)
        try await PostgresTestServer.withStartedStore(configuration: configuration) { store in
            // Setup: retried as a careful caller does (the same events, so a retry appends nothing twice).
            try await appendRetrying(makeEvents(5), to: "a", expectedVersion: .noStream, store: store)
            let lock = try await PostgresTableLock.lockEvents(of: configuration)
            let delivered = try await withThrowingTaskGroup(of: [UInt64].self) { group in
                group.addTask {
                    var subscription = store.subscribe(after: 0, batchSize: 3).makeAsyncIterator()
                    var positions: [UInt64] = []
                    while positions.count < 11, let event = try await subscription.next() {
                        positions.append(event.position)
                    }
                    #expect(subscription.retries >= 1)
                    return positions
                }
                // The subscription's read waits for the lock; ending its connection is an outage for it.
                try await lock.terminate(try await lock.waitingBackend())
                group.addTask {
                    // postgres-nio may hand the append to the connection that was just ended.
                    try await appendRetrying(makeEvents(6), to: "b", expectedVersion: .noStream, store: store)
                    return []
                }
                try await lock.release()
                var delivered: [UInt64] = []
                for try await positions in group { delivered += positions }
                return delivered
            }
            #expect(delivered == Array(1...11))
        }
    }

    @Test func endsWithUnavailableAfterTheOutageLimit() async throws {
        var configuration = try PostgresTestServer.configuration()
        // A request's deadline covers leasing a connection (connecting, authenticating): 300 ms failed the store's
        // start on a loaded machine.
        configuration.requestTimeout = .seconds(2)
        configuration.subscriptionOutageLimit = .seconds(3)
        configuration.maximumRetryDelay = .milliseconds(100)
        try await PostgresTestServer.createTables(configuration)
        try await PostgresTestServer.withStartedStore(configuration: configuration) { store in
            // Setup, not what is measured: on a busy machine the first connection can miss the 2 s deadline.
            try await appendRetrying(makeEvents(1), to: "a", expectedVersion: .noStream, store: store)
            let lock = try await PostgresTableLock.lockEvents(of: configuration)
            var subscription = store.subscribe().makeAsyncIterator()
            let clock = ContinuousClock()
            let started = clock.now
            let error = await expectError(.unavailable) { _ = try await subscription.next() }
            #expect(error?.message.contains("gave up after an outage") == true, "\(String(describing: error))")
            #expect(clock.now - started >= .seconds(3))
            #expect(try await subscription.next() == nil)
            try await lock.releaseEndingWaiters()
        }
    }

    /// Before, a subscription that had caught up waited for the next event through the whole outage, whatever its
    /// limit: it ended only when the server came back and an event was committed.
    @Test func aCaughtUpSubscriptionEndsAfterTheOutageLimit() async throws {
        let direct = try PostgresTestServer.configuration()
        try await PostgresTestServer.createTables(direct)
        let proxy = try await RowCuttingProxy.start(upstreamHost: direct.host, upstreamPort: direct.port)
        var proxied = direct
        proxied.host = "127.0.0.1"
        proxied.port = proxy.port
        proxied.keepAliveInterval = .seconds(1)
        proxied.requestTimeout = .seconds(2)
        proxied.connectTimeout = .seconds(2)
        proxied.subscriptionOutageLimit = .seconds(3)
        proxied.maximumRetryDelay = .milliseconds(100)
        do {
            try await PostgresTestServer.withStartedStore(configuration: proxied) { store in
                try await appendRetrying(makeEvents(1), to: "a", expectedVersion: .noStream, store: store)
                // Before, the subscription waited until the suite's time limit ended the test.
                let subscribing = Task { () async throws -> EventStoreError? in
                    var subscription = store.subscribe().makeAsyncIterator()
                    let first = try await subscription.next()
                    #expect(first?.position == 1)
                    return await expectError(.unavailable) { _ = try await subscription.next() }
                }
                // Once the subscription has read to the end and waits for the next event, the server stops
                // answering on every connection, open or new.
                while store.notifiedHead.waiting == 0 { await Task.yield() }
                proxy.freezeExisting()
                proxy.silenceAfterStartup()
                let ended = try await subscribing.value
                #expect(ended?.message.contains("gave up after an outage") == true, "\(String(describing: ended))")
                // The server answers again, for the test's own clean-up.
                proxy.answerNewConnections()
            }
        } catch {
            try? await proxy.stop()
            throw error
        }
        try await proxy.stop()
    }

    @Test func cancellationIsFinal() async throws {
        try await PostgresTestServer.withStore { store in
            _ = try await store.append(makeEvents(4), to: "a", expectedVersion: .noStream)
            let afterCancellation = try await Task {
                var subscription = store.subscribe(after: 0, batchSize: 10).makeAsyncIterator()
                let first = try await subscription.next()
                #expect(first?.position == 1)
                withUnsafeCurrentTask { $0?.cancel() }
                // Three fetched events are left in the batch: none of them is delivered.
                return [try await subscription.next(), try await subscription.next()]
            }.value
            #expect(afterCancellation == [nil, nil])
        }
    }
}
