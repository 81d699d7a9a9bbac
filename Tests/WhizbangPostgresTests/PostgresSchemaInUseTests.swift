import Foundation
import Logging
import PostgresNIO
import PostgresTesting
import Testing
import Whizbang
@testable import WhizbangPostgres

/// A store that runs on a schema holds it: its tables are not dropped or replaced under it. Before, `dropStoreTables`
/// dropped them while a store (in this process or another) was appending, which then failed on missing tables; and a
/// restore could replace only an empty schema, so a caller starting over dropped and created in two transactions.
@Suite(
    "PostgreSQL schema in use, and a restore that replaces a marked store",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresSchemaInUseTests {
    static let mark = "tests.mark"

    /// `count` events of one stream.
    static func log(_ count: Int) -> [RecordedEvent] {
        (0..<count).map { index in
            RecordedEvent(
                streamID: "account-9", streamVersion: UInt64(index + 1), position: UInt64(index + 1),
                eventID: MessageID(), eventType: "Deposited", data: Data("{}".utf8), metadata: Data(),
                recordedAt: Date(timeIntervalSince1970: 1_700_000_000))
        }
    }

    @Test("while a store runs, dropStoreTables and a replacing restore refuse and change nothing; once it closed, both work")
    func aRunningStoreHoldsItsSchema() async throws {
        let configuration = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { running in
            // A store that answers a call holds the schema: it took the lock before it opened to calls.
            try await running.saveCheckpoint(0, for: Self.mark)
            _ = try await running.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)
            #expect(try await PostgresEventStore.inspectSchema(configuration: configuration).runningStores == 1)

            let calls: [(String, @Sendable () async throws -> Void)] = [
                ("dropStoreTables", { try await PostgresEventStore.dropStoreTables(configuration: configuration) }),
                ("dropSchema", { try await PostgresEventStore.dropSchema(configuration: configuration) }),
                ("restore", {
                    try await PostgresEventStore.restore(
                        [], configuration: configuration, replacingStoreMarkedBy: Self.mark)
                }),
            ]
            for (name, call) in calls {
                let error = await #expect(throws: EventStoreError.self, "\(name)") { try await call() }
                #expect(error?.code == .invalidArgument, "\(name)")
                #expect(error?.message.contains("a store runs on schema") == true, "\(String(describing: error))")
            }
            // The store goes on as before.
            _ = try await running.append(makeEvents(1), to: "account-1", expectedVersion: .exact(1))
            #expect(try await running.headPosition() == 2)
        }
        // Closed, it lets the schema go (the restore waits for the server to end the closed session).
        try await PostgresEventStore.restore([], checkpoints: [Self.mark: 7], configuration: configuration,
            replacingStoreMarkedBy: Self.mark)
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store async throws in
            #expect(try await store.headPosition() == 0)
            #expect(try await store.checkpoint(for: Self.mark) == 7)
        }
        try await PostgresEventStore.dropStoreTables(configuration: configuration)
        #expect(try await PostgresEventStore.installedSchemaVersion(configuration: configuration) == nil)
    }

    /// A starting store holds the schema from before its migration: a drop or a replacing restore in the gap
    /// between its migration and its opening to calls went ahead under it (it took the lock after migrating).
    @Test("a starting store counts as running while it waits to migrate")
    func aStartingStoreHoldsItsSchemaBeforeItMigrates() async throws {
        let configuration = try {
            var configuration = try PostgresTestServer.configuration()
            configuration.requestTimeout = .seconds(60)
            return configuration
        }()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        try await PostgresTestServer.createTables(configuration)
        // Another session holds the migration lock, as a migrating process would: the store's start waits for it.
        let holder = try await PostgresTestServer.connect(configuration, id: 7)
        _ = try await holder.query(
            "SELECT pg_advisory_lock(\(PostgresSchema.lockClass + 1), hashtext(\(configuration.schema)))",
            logger: Logger(label: "lock")
        ).collect()
        let store = try PostgresEventStore(configuration: configuration)
        let run = Task { try await store.run() }
        // PostgreSQL signals no lock taken, so the test looks until it sees it; each look is a connection and a few
        // queries, which paces the loop.
        var running = 0
        let deadline = ContinuousClock.now + TestPatience.success
        while running == 0, ContinuousClock.now < deadline {
            running = try await PostgresEventStore.inspectSchema(configuration: configuration).runningStores
        }
        #expect(running == 1, "the waiting store did not hold the schema's use lock")
        try await holder.close()
        _ = try await retryingWhileUnavailable {
            try await store.append(makeEvents(1), to: "account-1", expectedVersion: .any)
        }
        store.close()
        try await run.value
    }

    @Test("a restore replaces only a store with the mark, and nothing beside it: otherwise it refuses, changing nothing")
    func aRestoreReplacesOnlyAMarkedStore() async throws {
        let configuration = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store async throws in
            _ = try await store.append(makeEvents(2), to: "account-1", expectedVersion: .noStream)
        }
        func refused(marker: String?) async throws -> EventStoreError? {
            await #expect(throws: EventStoreError.self) {
                try await PostgresEventStore.restore(
                    [], checkpoints: [Self.mark: 0], configuration: configuration, replacingStoreMarkedBy: marker)
            }
        }
        // No mark: neither without a marker nor with one.
        #expect(try await refused(marker: nil)?.code == .invalidArgument)
        let unmarked = try await refused(marker: Self.mark)
        #expect(unmarked?.code == .invalidArgument)
        #expect(unmarked?.message.contains("without the mark '\(Self.mark)'") == true, "\(String(describing: unmarked))")
        // Marked, but with someone's table beside it.
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store async throws in
            try await store.saveCheckpoint(3, for: Self.mark)
        }
        try await PostgresTestServer.execute(
            "CREATE TABLE \"\(configuration.schema)\".invoices (id int)", configuration: configuration)
        let beside = try await refused(marker: Self.mark)
        #expect(beside?.message.contains("invoices") == true, "\(String(describing: beside))")
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store async throws in
            #expect(try await store.headPosition() == 2)
            #expect(try await store.checkpoint(for: Self.mark) == 3)
        }
        // Marked and alone, but the restore fails after the old store's tables were dropped: the old store stays.
        try await PostgresTestServer.execute(
            "DROP TABLE \"\(configuration.schema)\".invoices", configuration: configuration)
        let stopped = await #expect(throws: CancellationError.self) {
            try await PostgresEventStore.restore(
                Self.log(3), checkpoints: [Self.mark: 0], configuration: configuration,
                replacingStoreMarkedBy: Self.mark, progress: { _ in false })
        }
        #expect(stopped != nil)
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) {
            store async throws in
            #expect(try await store.headPosition() == 2)
            #expect(try await store.checkpoint(for: Self.mark) == 3)
        }
        // Marked and alone: replaced, in one transaction.
        try await PostgresEventStore.restore(
            [], checkpoints: [Self.mark: 0], configuration: configuration, replacingStoreMarkedBy: Self.mark)
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store async throws in
            #expect(try await store.headPosition() == 0)
            #expect(try await store.checkpoint(for: Self.mark) == 0)
        }
    }
}
