import Foundation
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

/// `PostgresEventStore.listen(on:_:)` ends when the store closes, as documented: before, it sat on its own
/// connection, outside the pool, until its caller was cancelled, so a client or node whose store closed first went on
/// listening.
@Suite(
    "PostgresEventStore.listen",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresListenTests {
    @Test("a listener returns when its store closes")
    func aListenerEndsWhenTheStoreCloses() async throws {
        let configuration = try PostgresTestServer.configuration()
        let store = try PostgresEventStore(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            let (listening, listeningContinuation) = AsyncStream<Void>.makeStream()
            let received = Mutex<[String?]>([])
            let listener = Task {
                await store.listen(on: "whizbang_listen_test") { payload in
                    received.withLock { $0.append(payload) }
                    // The first call, with nil, says the listener listens.
                    if payload == nil { listeningContinuation.yield() }
                }
                // A listener that returns before it listened (a store that failed to start on a loaded machine)
                // ends the wait below too, so that the test fails instead of waiting for its time limit.
                listeningContinuation.finish()
            }
            var iterator = listening.makeAsyncIterator()
            _ = await iterator.next()
            store.close()
            // Returns without being cancelled. Should it not, the suite's time limit cancels the test, which cancels
            // the listener, so that the failure ends the test instead of hanging it.
            await withTaskCancellationHandler {
                await listener.value
            } onCancel: {
                listener.cancel()
            }
            #expect(received.withLock { $0 } == [nil])
            try await group.waitForAll()
        }
        try await PostgresTestServer.dropSchema(configuration)
    }
}
