import Foundation
import Logging
import PostgresNIO
import Testing
@testable import WhizbangPostgres

/// Store schema version 2: each event's schema version in a column, added in place to a version-1 store, all or
/// nothing; and events written at schema version 1 read by code whose events are at version 3.
@Suite(
    "PostgresEventStore schema versions",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .serialized,
    .timeLimit(.minutes(5))
)
struct PostgresSchemaVersionTests {
    private let logger = Logger(label: "whizbang.postgres.tests")

    /// Creates the store as the code of store schema version 1 did — its tables and its seven-argument append
    /// function — and appends two events through that function.
    private func makeVersionOneStore(_ configuration: PostgresEventStore.Configuration) async throws {
        let quoted = "\"\(configuration.schema)\""
        var statements = [
            "CREATE SCHEMA \(quoted)",
            "CREATE TABLE \(quoted).schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        ]
        statements += PostgresSchema.migrations[0].map {
            $0.replacingOccurrences(of: "{schema}", with: quoted)
                .replacingOccurrences(of: "{channel}", with: "whizbang_\(configuration.schema)")
                .replacingOccurrences(of: "{name}", with: configuration.schema)
        }
        statements += [
            "INSERT INTO \(quoted).schema_version (version) VALUES (1)",
            """
            SELECT * FROM \(quoted).append_batch(
                ARRAY['member-ada'], ARRAY[-2]::bigint[], ARRAY[2],
                ARRAY['0190a000-0000-7000-8000-000000000001', '0190a000-0000-7000-8000-000000000002']::uuid[],
                ARRAY['MemberJoined', 'MemberJoined'],
                ARRAY[convert_to('{"name":"Ada"}', 'UTF8'), convert_to('{"name":"Ada L."}', 'UTF8')],
                ARRAY[''::bytea, ''::bytea])
            """,
        ]
        for statement in statements {
            try await PostgresTestServer.execute(statement, configuration: configuration)
        }
    }

    private func query(_ sql: String, _ configuration: PostgresEventStore.Configuration) async throws -> [String] {
        try await PostgresTestServer.strings(sql, configuration: configuration)
    }

    @Test func aVersionOneStoreMigratesInPlaceAndEveryEventGetsOne() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await makeVersionOneStore(configuration)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            let stored = try await store.readAll(after: 0, limit: 10)
            #expect(stored.map(\.schemaVersion) == [1, 1])
            #expect(try stored.map { try JoinedV3Registry.events.decode($0) } == [
                .joined(.init(fullName: "Ada", tier: "standard")), .joined(.init(fullName: "Ada L.", tier: "standard")),
            ])
            let appended = try JoinedV3Registry.events.eventData(for: .joined(.init(fullName: "Alan", tier: "gold")))
            _ = try await store.append([appended], to: "member-alan", expectedVersion: .noStream)
            let alan = try await store.readStream("member-alan", from: 1, direction: .forwards, limit: 10)
            #expect(alan.map(\.schemaVersion) == [3])
        }
    }

    @Test func theMigrationRecordsItsVersionAndReplacesTheAppendFunction() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await makeVersionOneStore(configuration)
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        // Appends on the migrated schema go through version 6's fenced procedure (its function as version 7 made it).
        _ = try await PostgresTestServer.withRunningStore(store) { store in
            try await store.append(makeEvents(1), to: "after-migration", expectedVersion: .noStream)
        }
        let name = configuration.schema
        #expect(
            try await query("SELECT version::text FROM \"\(name)\".schema_version ORDER BY version", configuration)
                == ["1", "2", "3", "4", "5", "6", "7"])
        // Version 6's fenced function and procedure.
        #expect(
            try await query(
                "SELECT p.proname::text || ' ' || p.prokind::text || ' ' || p.pronargs::text FROM pg_proc p "
                    + "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = '\(name)' "
                    + "AND p.proname LIKE 'append_batch_fenced%' ORDER BY p.proname", configuration)
                == ["append_batch_fenced f 9", "append_batch_fenced_committed p 13"])
        // Version 5's procedure, which commits the append function's work in the exchange of its call.
        #expect(
            try await query(
                "SELECT p.prokind::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    + "WHERE n.nspname = '\(name)' AND p.proname = 'append_batch_committed'", configuration) == ["p"])
        #expect(
            try await query(
                "SELECT pg_get_function_identity_arguments(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = "
                    + "p.pronamespace WHERE n.nspname = '\(name)' AND p.proname = 'append_batch'", configuration)
                .map { $0.components(separatedBy: ", ").count } == [8])
        #expect(
            try await query(
                "SELECT count(*)::text || '/' || min(schema_version)::text FROM \"\(name)\".events", configuration)
                == ["3/1"])
        try await PostgresTestServer.dropSchema(configuration)
    }

    /// A routine named as version 5's procedure, in a schema at an older version, is not the store's: looking at
    /// the schema names it, and dropping the store's tables refuses and drops nothing.
    @Test func aRoutineNamedAsALaterVersionsIsForeignInAnOlderSchema() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await makeVersionOneStore(configuration)
        let name = configuration.schema
        try await PostgresTestServer.execute(
            "CREATE FUNCTION \"\(name)\".append_batch_committed() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
            configuration: configuration)
        let found = try await PostgresEventStore.inspectSchema(configuration: configuration)
        #expect(found.otherObjects == ["function append_batch_committed"])
        await #expect(throws: EventStoreError.self) {
            try await PostgresEventStore.dropStoreTables(configuration: configuration)
        }
        #expect(try await query("SELECT count(*)::text FROM \"\(name)\".events", configuration) == ["2"])
        try await PostgresTestServer.dropSchema(configuration)
    }

    /// Objects of someone else's named as a later version's (a table, a function) in a schema at an older version:
    /// the store refuses to migrate it, naming them, and changes nothing. Before, the migration failed on the first
    /// one with the server's bare "relation already exists", or, for a procedure of the same signature, replaced it.
    @Test func aMigrationOverObjectsNamedAsALaterVersionsIsRefused() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await makeVersionOneStore(configuration)
        let name = configuration.schema
        try await PostgresTestServer.execute(
            "CREATE TABLE \"\(name)\".read_models (x integer)", configuration: configuration)
        try await PostgresTestServer.execute(
            "CREATE FUNCTION \"\(name)\".append_batch_committed() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
            configuration: configuration)
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        let error = await #expect(throws: EventStoreError.self) { try await store.run() }
        #expect(error?.code == .invalidArgument, "\(String(describing: error))")
        #expect(
            error?.message.contains("table read_models, function append_batch_committed") == true,
            "\(String(describing: error))")
        #expect(error?.message.contains("nothing was changed") == true, "\(String(describing: error))")
        #expect(try await query("SELECT version::text FROM \"\(name)\".schema_version", configuration) == ["1"])
        #expect(try await query("SELECT count(*)::text FROM \"\(name)\".events", configuration) == ["2"])
        try await PostgresTestServer.dropSchema(configuration)
    }

    /// The column, the function and the version row go in one transaction: when one fails, nothing changes.
    @Test func aMigrationThatFailsChangesNothing() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await makeVersionOneStore(configuration)
        let name = configuration.schema
        try await PostgresTestServer.execute(
            "ALTER TABLE \"\(name)\".events ADD COLUMN schema_version text", configuration: configuration)
        let connection = try await PostgresTestServer.connect(configuration, id: 3)
        await #expect(throws: (any Error).self) {
            try await PostgresSchema.migrate(connection, schema: name, logger: logger)
        }
        try await connection.close()
        #expect(try await query("SELECT version::text FROM \"\(name)\".schema_version", configuration) == ["1"])
        #expect(
            try await query(
                "SELECT pg_get_function_identity_arguments(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = "
                    + "p.pronamespace WHERE n.nspname = '\(name)' AND p.proname = 'append_batch'", configuration)
                .map { $0.components(separatedBy: ", ").count } == [7])
        try await PostgresTestServer.dropSchema(configuration)
    }

    /// Events written through the API by code whose `MemberJoined` was at version 1, then read by code at version 3.
    @Test func eventsWrittenByVersionOneCodeLoadUnderVersionThreeCode() async throws {
        try await PostgresTestServer.withStore { store in
            let written = try [
                JoinedV1Registry.events.eventData(for: .joined(.init(name: "Grace"))),
                JoinedV1Registry.events.eventData(for: .joined(.init(name: "Grace H."))),
            ]
            #expect(written.map(\.schemaVersion) == [1, 1])
            _ = try await store.append(written, to: "member-grace", expectedVersion: .noStream)
            let repository = Repository<JoinedV3Registry, PostgresEventStore>(store: store)
            let grace = try await repository.load("member-grace")
            #expect(grace.state == "Grace H. (standard)")
            #expect(grace.version == 2)
        }
    }
}

/// The version-1 code: `MemberJoined` with a `name`.
enum JoinedV1Registry {
    struct MemberJoined: EventPayload { var name: String }
    enum Event: EventEnumeration {
        case joined(MemberJoined)
        var payload: any EventPayload {
            switch self {
            case .joined(let payload): payload
            }
        }
    }
    static let events = EventRegistry<Event>(Event.joined)
}

/// The version-3 code: `name` became `fullName` at version 2, and version 3 added a tier.
enum JoinedV3Registry: Aggregate {
    struct V1: Codable, Sendable { var name: String }
    struct V2: Codable, Sendable { var fullName: String }
    struct MemberJoined: EventPayload, Equatable {
        static let eventSchemaVersion = 3
        var fullName: String
        var tier: String
    }
    enum Event: EventEnumeration, Equatable {
        case joined(MemberJoined)
        var payload: any EventPayload {
            switch self {
            case .joined(let payload): payload
            }
        }
    }
    enum Command: Sendable { case none }

    static let initialState = ""
    static let events = EventRegistry<Event>(Event.joined)
        .upcasting("MemberJoined", from: 2, V2.self, to: MemberJoined.self) { MemberJoined(fullName: $0.fullName, tier: "standard") }
        .upcasting("MemberJoined", from: 1, V1.self, to: V2.self) { V2(fullName: $0.name) }

    static func evolve(_ state: String, _ event: Event) -> String {
        switch event {
        case .joined(let joined): "\(joined.fullName) (\(joined.tier))"
        }
    }

    static func decide(_ command: Command, _ state: String) throws -> [Event] { [] }
}
