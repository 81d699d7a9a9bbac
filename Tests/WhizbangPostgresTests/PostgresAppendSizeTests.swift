import Foundation
import Testing
import Whizbang
import WhizbangPostgres

/// An append's data and metadata reach the server in one message, which PostgreSQL takes only under 1 GiB (and the
/// client traps on one of 2 GiB): each event was checked against `maximumPayloadBytes`, the append's total never.
@Suite("PostgresEventStore append size")
struct PostgresAppendSizeTests {
    /// 800 events of 1 MiB (the default limit per event): 800 MiB in one append, sent to the server before.
    static func largeEvents() -> [EventData] {
        let payload = Data(count: 1 << 20)
        return (0..<800).map { _ in EventData(eventType: "Large", data: payload) }
    }

    @Test("an append over maximumAppendBytes fails with payloadTooLarge before anything is sent")
    func anAppendOverTheLimitIsRefused() async throws {
        // The store is not started: a refusal that needed the server would wait for it instead.
        let store = try PostgresEventStore(configuration: PostgresEventStore.Configuration())
        defer { store.close() }
        await #expect {
            _ = try await store.append(Self.largeEvents(), to: "large", expectedVersion: .any)
        } throws: { error in
            let error = error as? EventStoreError
            return error?.code == .payloadTooLarge
                && error?.message.contains("at most \(PostgresEventStore.maximumAppendBytes)") == true
        }
    }

    /// One event at both payload limits (256 MiB of data and of metadata) still fits in an append.
    @Test("maximumBatchBytes is at most maximumAppendBytes, which holds an event at both payload limits")
    func batchBytesAreBounded() {
        #expect(2 * (256 << 20) + 64 + 1024 <= PostgresEventStore.maximumAppendBytes)
        var configuration = PostgresEventStore.Configuration()
        configuration.maximumBatchBytes = PostgresEventStore.maximumAppendBytes + 1
        #expect(throws: EventStoreError.self) { _ = try PostgresEventStore(configuration: configuration) }
        configuration.maximumBatchBytes = PostgresEventStore.maximumAppendBytes
        #expect(throws: Never.self) { try PostgresEventStore(configuration: configuration).close() }
    }

    @Test(
        "appends in a transaction over maximumAppendBytes together fail with payloadTooLarge, sending nothing",
        .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run this test"))
    func transactionAppendsOverTheLimitAreRefused() async throws {
        try await PostgresTestServer.withStore { store in
            let half = Array(Self.largeEvents().prefix(400))
            await expectError(.payloadTooLarge) {
                _ = try await store.withTransaction { transaction in
                    try await transaction.append([
                        PostgresStoreAppend(half, to: "large-1", expectedVersion: .any),
                        PostgresStoreAppend(half.map { EventData(eventType: $0.eventType, data: $0.data) },
                            to: "large-2", expectedVersion: .any),
                    ])
                }
            }
            let head = try await store.headPosition()
            #expect(head == 0)
        }
    }
}
