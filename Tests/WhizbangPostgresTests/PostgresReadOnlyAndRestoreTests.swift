import Foundation
import Synchronization
import Testing
import WhizbangPostgres

/// A store configured read-only, and a restore of a whole log in one transaction.
@Suite(
    "PostgresEventStore read-only and restore",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .serialized,
    .timeLimit(.minutes(5))
)
struct PostgresReadOnlyAndRestoreTests {
    /// A log of two streams, interleaved, with recording times of whole microseconds.
    private func log(_ count: Int) -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        for index in 0..<count {
            let microseconds: Int64 = 1_700_000_000_000_000 + Int64(index) * 1_000_003
            let recordedAt = Date(timeIntervalSince1970: Double(microseconds) / 1_000_000)
            let streamID = StreamID("account-\(index % 2)")
            let data = Data("{\"amount\":\(index)}".utf8)
            events.append(
                RecordedEvent(
                    streamID: streamID, streamVersion: UInt64(index / 2 + 1), position: UInt64(index + 1),
                    eventID: MessageID(), eventType: "Deposited", data: data, metadata: Data(), recordedAt: recordedAt))
        }
        return events
    }

    @Test func restoreKeepsEveryFieldAndAReadOnlyStoreReadsItButRefusesWrites() async throws {
        let configuration = try PostgresTestServer.configuration()
        let events = log(9_000)
        let written = try await PostgresEventStore.restore(
            events, checkpoints: ["reader": 7], configuration: configuration)
        #expect(written == events.count)
        var readOnly = configuration
        readOnly.isReadOnly = true
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: readOnly)) { store in
            // Every field as given; the recording time to the microsecond, which is what PostgreSQL keeps (a
            // `Date` decoded from it may differ from the given one in the last bit of its `Double`).
            let read = try await store.readAll(after: 0, limit: 10_000)
            func microseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
            #expect(read.map(\.recordedAt).map(microseconds) == events.map(\.recordedAt).map(microseconds))
            var withGivenTimes = read
            for index in withGivenTimes.indices where index < events.count {
                withGivenTimes[index].recordedAt = events[index].recordedAt
            }
            #expect(withGivenTimes == events)
            let checkpoint = try await store.checkpoint(for: "reader")
            #expect(checkpoint == 7)
            let refused = await #expect(throws: EventStoreError.self) {
                try await store.append(
                    [EventData(eventType: "Deposited", data: Data("{}".utf8))], to: "account-0",
                    expectedVersion: .exact(4_500))
            }
            #expect(refused?.code == .readOnly)
            await #expect(throws: EventStoreError.self) { try await store.saveCheckpoint(9, for: "reader") }
        }
        // A restore into a schema that holds a store is refused, and changes nothing.
        let again = await #expect(throws: EventStoreError.self) {
            try await PostgresEventStore.restore(events, configuration: configuration)
        }
        #expect(again?.code == .invalidArgument)
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: readOnly)) { store in
            let head = try await store.headPosition()
            #expect(head == UInt64(events.count))
        }
        try await PostgresTestServer.dropSchema(configuration)
    }

    @Test func aReadOnlyStoreOnAMissingSchemaFailsToStartAndCreatesNothing() async throws {
        var configuration = try PostgresTestServer.configuration()
        configuration.isReadOnly = true
        let store = try PostgresEventStore(configuration: configuration)
        let failure = await #expect(throws: EventStoreError.self) { try await store.run() }
        #expect(failure?.code == .incompatibleSchema)
        store.close()
        let found = try await PostgresEventStore.inspectSchema(configuration: configuration)
        #expect(!found.exists)
    }

    @Test func aRestoreThatStopsLeavesNoTables() async throws {
        let configuration = try PostgresTestServer.configuration()
        await #expect(throws: CancellationError.self) {
            try await PostgresEventStore.restore(log(20_000), configuration: configuration) { written in written < 8_192 }
        }
        let found = try await PostgresEventStore.inspectSchema(configuration: configuration)
        #expect(!found.holdsStore)
        #expect(found.otherObjects.isEmpty)
        try await PostgresTestServer.dropSchema(configuration)
    }

    /// The refusal a caller returns from inside a replacing restore's transaction (the sample's, while a cluster
    /// keeps state of the ledger it would replace).
    private struct Refused: Error {}

    @Test func aRestoreThatItsCallerRefusesThrowsTheRefusalAndChangesNothing() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await PostgresEventStore.restore(log(10), checkpoints: ["mark": 1], configuration: configuration)
        let asked = Mutex(0)
        await #expect(throws: Refused.self) {
            try await PostgresEventStore.restore(
                log(2), configuration: configuration, replacingStoreMarkedBy: "mark",
                refusal: { _, _ in
                    asked.withLock { $0 += 1 }
                    return Refused()
                })
        }
        #expect(asked.withLock { $0 } == 1)
        var readOnly = configuration
        readOnly.isReadOnly = true
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: readOnly)) { store in
            let head = try await store.headPosition()
            #expect(head == 10)
        }
        // Without a refusal, the same restore replaces the store.
        try await PostgresEventStore.restore(
            log(2), configuration: configuration, replacingStoreMarkedBy: "mark", refusal: { _, _ in nil })
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: readOnly)) { store in
            let head = try await store.headPosition()
            #expect(head == 2)
        }
        try await PostgresTestServer.dropSchema(configuration)
    }

    /// A fresh run of the sample replaces its ledger with a restore, which drops the store's tables: the privileges
    /// an operator gave a reading role on them (as the README advises) went with them, and the role could no longer
    /// read the store. They are given again on the new tables, in the same transaction.
    @Test func aReplacingRestoreGivesTheOldTablesPrivilegesAgain() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await PostgresEventStore.restore(log(10), checkpoints: ["mark": 1], configuration: configuration)
        let schema = "\"\(configuration.schema)\""
        // A role whose name needs quoting, given a privilege it may pass on; and PUBLIC, on a table, some columns and
        // the sequence.
        let role = "Reader-\(configuration.schema)"
        try await PostgresTestServer.execute("CREATE ROLE \"\(role)\"", configuration: configuration)
        for grant in [
            "GRANT SELECT ON \(schema).events, \(schema).checkpoints TO PUBLIC",
            "GRANT SELECT ON \(schema).events TO \"\(role)\" WITH GRANT OPTION",
            "GRANT SELECT (stream_id), UPDATE (version) ON \(schema).streams TO PUBLIC",
            "GRANT USAGE ON SEQUENCE \(schema).streams_stream_key_seq TO PUBLIC",
        ] {
            try await PostgresTestServer.execute(grant, configuration: configuration)
        }
        func privileges() async throws -> [String] {
            try await PostgresTestServer.strings(
                """
                WITH own AS (
                    SELECT c.oid, c.relname, c.relacl, c.relowner FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '\(configuration.schema)'
                ), entries AS (
                    SELECT own.relname AS target, a.*, own.relowner FROM own CROSS JOIN LATERAL aclexplode(own.relacl) a
                    UNION ALL
                    SELECT own.relname || '.' || t.attname, a.*, own.relowner FROM own
                    JOIN pg_attribute t ON t.attrelid = own.oid AND t.attnum > 0
                    CROSS JOIN LATERAL aclexplode(t.attacl) a
                )
                SELECT target || ' ' || privilege_type || ' to '
                    || CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(grantee) END
                    || CASE WHEN is_grantable THEN ' with grant option' ELSE '' END
                FROM entries WHERE grantee <> relowner ORDER BY 1
                """, configuration: configuration)
        }
        let before = try await privileges()
        #expect(before.count == 6, "\(before)")
        #expect(before.contains("events SELECT to \(role) with grant option"), "\(before)")
        try await PostgresEventStore.restore(log(2), configuration: configuration, replacingStoreMarkedBy: "mark")
        #expect(try await privileges() == before)
        try await PostgresTestServer.dropSchema(configuration)
        try await PostgresTestServer.execute("DROP ROLE \"\(role)\"", configuration: configuration)
    }
}
