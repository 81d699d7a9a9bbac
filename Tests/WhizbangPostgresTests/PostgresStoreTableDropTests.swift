import Foundation
import Logging
import PostgresNIO
import Testing

@testable import WhizbangPostgres

/// Dropping a store's tables, and the other administration calls, against a schema that holds objects of the user's
/// on the store's tables, and behind tables that another session holds (a backup in progress).
///
/// `dropStoreTables` once dropped a user's index (and would have dropped a user's trigger) with the store's tables,
/// and these calls waited without end behind a lock another session held.
@Suite(
    "PostgresEventStore.dropStoreTables and the administration calls",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresStoreTableDropTests {
    /// A schema holding a store that ran once and is closed, and its configuration with `requestTimeout`.
    ///
    /// The store runs under the default limits: a short `requestTimeout` is for the administration call under test,
    /// and the store's start and first append under it fail when the whole suite keeps the machine busy.
    static func closedStore(requestTimeout: Duration = .seconds(10)) async throws -> PostgresEventStore.Configuration {
        var configuration = try PostgresTestServer.configuration()
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store in
            _ = try await store.append(makeEvents(2), to: "account-1", expectedVersion: .noStream)
        }
        configuration.requestTimeout = requestTimeout
        return configuration
    }

    static func count(_ sql: String, _ configuration: PostgresEventStore.Configuration) async throws -> Int64 {
        let connection = try await PostgresTestServer.connect(configuration, id: 5)
        defer { Task { try? await connection.close() } }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "drop")).collect()
        return try rows.first?.decode(Int64.self) ?? -1
    }

    /// The number of the store's tables left in the schema.
    static func tables(_ configuration: PostgresEventStore.Configuration) async throws -> Int64 {
        try await count(
            "SELECT count(*) FROM pg_tables WHERE schemaname = '\(configuration.schema)'", configuration)
    }

    @Test("dropStoreTables refuses a schema where the user added an index to a store table, and drops nothing")
    func dropStoreTablesKeepsAUsersIndex() async throws {
        let configuration = try await Self.closedStore()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        let schema = "\"\(configuration.schema)\""
        // An operator's own index, to query events by type and time: the user's object, not the store's.
        try await PostgresTestServer.execute(
            "CREATE INDEX users_events_by_type ON \(schema).events (event_type, recorded_at)",
            configuration: configuration)
        let tables = try await Self.tables(configuration)

        let found = try await PostgresEventStore.inspectSchema(configuration: configuration)
        #expect(found.holdsStore && found.otherObjects == ["index users_events_by_type on events"], "\(found)")
        let error = await expectError(.invalidArgument) {
            try await PostgresEventStore.dropStoreTables(configuration: configuration)
        }
        #expect(error?.message.contains("users_events_by_type") == true, "\(String(describing: error))")
        let index = try await Self.count(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = '\(configuration.schema)' "
                + "AND indexname = 'users_events_by_type'", configuration)
        #expect(index == 1, "the user's index was dropped with the store's tables")
        #expect(try await Self.tables(configuration) == tables, "the store's tables were dropped")
    }

    @Test("dropStoreTables refuses a schema where the user added a trigger to a store table, and drops nothing")
    func dropStoreTablesKeepsAUsersTrigger() async throws {
        let configuration = try await Self.closedStore()
        let users = configuration.schema + "_app"
        defer {
            Task {
                try? await PostgresTestServer.dropSchema(configuration)
                try? await PostgresTestServer.execute("DROP SCHEMA IF EXISTS \(users) CASCADE", configuration: configuration)
            }
        }
        // An audit trigger of the application's, whose function lives in the application's own schema.
        try await PostgresTestServer.execute("CREATE SCHEMA \(users)", configuration: configuration)
        try await PostgresTestServer.execute(
            "CREATE FUNCTION \(users).audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
            configuration: configuration)
        try await PostgresTestServer.execute(
            "CREATE TRIGGER users_audit AFTER INSERT ON \"\(configuration.schema)\".checkpoints "
                + "FOR EACH ROW EXECUTE FUNCTION \(users).audit()",
            configuration: configuration)
        let tables = try await Self.tables(configuration)

        let found = try await PostgresEventStore.inspectSchema(configuration: configuration)
        #expect(found.otherObjects == ["trigger users_audit on checkpoints"], "\(found)")
        await expectError(.invalidArgument) {
            try await PostgresEventStore.dropStoreTables(configuration: configuration)
        }
        let trigger = try await Self.count(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'users_audit' "
                + "AND tgrelid = '\"\(configuration.schema)\".checkpoints'::regclass", configuration)
        #expect(trigger == 1, "the user's trigger was dropped with the store's tables")
        #expect(try await Self.tables(configuration) == tables, "the store's tables were dropped")
    }

    /// Objects the inventory did not look for, which `DROP TABLE` and `DROP SCHEMA` take with them without an error
    /// (a column and its data, extended statistics, a publication's hold on a table), or fail on (an overload of the
    /// store's function, a domain): each was missed, and the drops went ahead or failed as `storageFailure`.
    enum AttachedObject: String, CaseIterable, CustomStringConvertible {
        case column, statistics, publication, domain, overload
        var description: String { rawValue }

        func create(_ schema: String) -> String {
            switch self {
            case .column: "ALTER TABLE \"\(schema)\".events ADD COLUMN tenant text"
            case .statistics:
                "CREATE STATISTICS \"\(schema)\".users_stats ON stream_key, version FROM \"\(schema)\".events"
            case .publication: "CREATE PUBLICATION \(schema)_cdc FOR TABLE \"\(schema)\".events"
            case .domain: "CREATE DOMAIN \"\(schema)\".positive AS integer CHECK (VALUE > 0)"
            case .overload:
                "CREATE FUNCTION \"\(schema)\".append_batch(x integer) RETURNS integer LANGUAGE sql AS 'SELECT 1'"
            }
        }

        func name(_ schema: String) -> String {
            switch self {
            case .column: "column tenant on events"
            case .statistics: "statistics users_stats"
            case .publication: "publication \(schema)_cdc of events"
            case .domain: "domain positive"
            case .overload: "function append_batch"
            }
        }
    }

    @Test("the drops refuse a store with an object of the user's attached to it, and drop nothing",
          arguments: AttachedObject.allCases)
    func dropsKeepAnAttachedObject(_ object: AttachedObject) async throws {
        let configuration = try await Self.closedStore()
        let schema = configuration.schema
        defer {
            Task {
                try? await PostgresTestServer.execute(
                    "DROP PUBLICATION IF EXISTS \(schema)_cdc", configuration: configuration)
                try? await PostgresTestServer.dropSchema(configuration)
            }
        }
        try await PostgresTestServer.execute(object.create(schema), configuration: configuration)
        let tables = try await Self.tables(configuration)
        let found = try await PostgresEventStore.inspectSchema(configuration: configuration)
        #expect(found.holdsStore && found.otherObjects == [object.name(schema)], "\(found)")
        await expectError(.invalidArgument) {
            try await PostgresEventStore.dropStoreTables(configuration: configuration)
        }
        await expectError(.invalidArgument) { try await PostgresEventStore.dropSchema(configuration: configuration) }
        #expect(try await Self.tables(configuration) == tables, "the store's tables were dropped")
        #expect(try await Self.count("SELECT count(*) FROM \"\(schema)\".events", configuration) == 2)
    }

    /// `dropSchema` dropped the schema `CASCADE`: every table there, and whatever elsewhere depended on the store.
    @Test("dropSchema refuses a schema that also holds a user's table, and drops nothing")
    func dropSchemaKeepsAUsersTable() async throws {
        let configuration = try await Self.closedStore()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        let schema = "\"\(configuration.schema)\""
        try await PostgresTestServer.execute("CREATE TABLE \(schema).invoices (id bigint)", configuration: configuration)
        let tables = try await Self.tables(configuration)
        _ = await expectError(.invalidArgument) { try await PostgresEventStore.dropSchema(configuration: configuration) }
        #expect(try await Self.tables(configuration) == tables)
        #expect(try await Self.count("SELECT count(*) FROM \(schema).events", configuration) == 2)
    }

    @Test("dropSchema refuses a store that a view in another schema depends on, and drops nothing")
    func dropSchemaKeepsADependentView() async throws {
        let configuration = try await Self.closedStore()
        let view = "\"\(configuration.schema)_view\""
        defer {
            Task {
                try? await PostgresTestServer.execute("DROP SCHEMA IF EXISTS \(view) CASCADE", configuration: configuration)
                try? await PostgresTestServer.dropSchema(configuration)
            }
        }
        let schema = "\"\(configuration.schema)\""
        try await PostgresTestServer.execute("CREATE SCHEMA \(view)", configuration: configuration)
        try await PostgresTestServer.execute(
            "CREATE VIEW \(view).positions AS SELECT position FROM \(schema).events", configuration: configuration)
        await #expect(throws: (any Error).self) { try await PostgresEventStore.dropSchema(configuration: configuration) }
        #expect(try await Self.count("SELECT count(*) FROM \(schema).events", configuration) == 2)
        #expect(try await Self.count("SELECT count(*) FROM \(view).positions", configuration) == 2)
    }

    @Test("dropSchema drops a schema that holds only a store")
    func dropSchemaDropsAStoreSchema() async throws {
        let configuration = try await Self.closedStore()
        #expect(try await PostgresEventStore.dropSchema(configuration: configuration))
        #expect(
            try await Self.count(
                "SELECT count(*) FROM pg_namespace WHERE nspname = '\(configuration.schema)'", configuration) == 0)
        // Nothing there: nothing to do.
        #expect(try await PostgresEventStore.dropSchema(configuration: configuration) == false)
    }

    /// What an operator sets up on a schema they make for a store: a comment and a grant, which `DROP SCHEMA` takes
    /// with it.
    static func operatorsSchema(_ configuration: PostgresEventStore.Configuration) async throws {
        let schema = "\"\(configuration.schema)\""
        for statement in [
            "CREATE SCHEMA \(schema)", "COMMENT ON SCHEMA \(schema) IS 'the ledger team''s'",
            "GRANT USAGE ON SCHEMA \(schema) TO PUBLIC",
        ] {
            try await PostgresTestServer.execute(statement, configuration: configuration)
        }
    }

    /// The schema's comment and whether `PUBLIC` holds `USAGE` on it; `nil` when the schema is gone.
    static func commentAndGrant(_ configuration: PostgresEventStore.Configuration) async throws -> (String?, Bool)? {
        let connection = try await PostgresTestServer.connect(configuration, id: 7)
        defer { Task { try? await connection.close() } }
        let rows = try await connection.query(
            """
            SELECT obj_description(oid, 'pg_namespace'), has_schema_privilege('public', oid, 'USAGE')
            FROM pg_namespace WHERE nspname = \(configuration.schema)
            """, logger: Logger(label: "drop")
        ).collect()
        return try rows.first?.decode((String?, Bool).self)
    }

    /// `dropSchema` dropped any schema that held no store, as long as it was empty: a schema that an operator made,
    /// commented and granted for the store, or `public`, which the store never created.
    @Test("dropSchema leaves an empty schema that holds no store, with its comment and grants")
    func dropSchemaLeavesASchemaWithoutAStore() async throws {
        let empty = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(empty) } }
        try await PostgresTestServer.execute("CREATE SCHEMA \"\(empty.schema)\"", configuration: empty)
        let operators = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(operators) } }
        try await Self.operatorsSchema(operators)

        #expect(try await PostgresEventStore.dropSchema(configuration: empty) == false)
        #expect(try await Self.commentAndGrant(empty) != nil, "the empty schema was dropped")
        #expect(try await PostgresEventStore.dropSchema(configuration: operators) == false)
        let kept = try await Self.commentAndGrant(operators)
        #expect(kept?.0 == "the ledger team's" && kept?.1 == true, "the operator's schema was dropped")
        #expect(try await PostgresEventStore.inspectSchema(configuration: operators).exists)
    }

    /// `dropSchema` dropped the schema of any store with the store, also one an operator had made, and with it
    /// their comment and grants.
    @Test("dropSchema drops a store from a schema it did not create, and leaves the schema with its comment and grants")
    func dropSchemaLeavesAnOperatorsSchema() async throws {
        let configuration = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        try await Self.operatorsSchema(configuration)
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store in
            _ = try await store.append(makeEvents(2), to: "account-1", expectedVersion: .noStream)
        }

        #expect(try await PostgresEventStore.dropSchema(configuration: configuration) == false)
        let kept = try await Self.commentAndGrant(configuration)
        #expect(kept?.0 == "the ledger team's" && kept?.1 == true, "the operator's schema was dropped")
        #expect(try await Self.tables(configuration) == 0, "the store's tables were left")
    }

    @Test("dropSchema drops the schema a store created, also once the store's tables are gone")
    func dropSchemaDropsTheSchemaAStoreCreated() async throws {
        let configuration = try await Self.closedStore()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        try await PostgresEventStore.dropStoreTables(configuration: configuration)
        #expect(try await Self.commentAndGrant(configuration) != nil)
        #expect(try await PostgresEventStore.dropSchema(configuration: configuration))
        #expect(try await Self.commentAndGrant(configuration) == nil, "the store's empty schema was left")
    }

    /// Privileges an operator gave on a schema the store created went with it, without a word.
    @Test(
        "dropSchema refuses a schema the store created when someone gave privileges on it, and drops nothing",
        arguments: [
            ("GRANT USAGE ON SCHEMA {s} TO PUBLIC", "REVOKE USAGE ON SCHEMA {s} FROM PUBLIC", "usage for PUBLIC"),
            (
                "ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT ON TABLES TO PUBLIC",
                "ALTER DEFAULT PRIVILEGES IN SCHEMA {s} REVOKE SELECT ON TABLES FROM PUBLIC", "default privileges of"
            ),
        ])
    func dropSchemaKeepsPrivilegesGivenOnIt(given: String, revoked: String, named: String) async throws {
        let configuration = try await Self.closedStore()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        let schema = "\"\(configuration.schema)\""
        try await PostgresTestServer.execute(
            given.replacingOccurrences(of: "{s}", with: schema), configuration: configuration)
        let tables = try await Self.tables(configuration)

        let error = await expectError(.invalidArgument) {
            _ = try await PostgresEventStore.dropSchema(configuration: configuration)
        }
        #expect(error?.message.contains(named) == true, "\(String(describing: error))")
        #expect(error?.message.contains("nothing was dropped") == true, "\(String(describing: error))")
        #expect(try await Self.tables(configuration) == tables, "the store's tables were dropped")
        #expect(try await Self.commentAndGrant(configuration) != nil, "the schema was dropped")

        try await PostgresTestServer.execute(
            revoked.replacingOccurrences(of: "{s}", with: schema), configuration: configuration)
        #expect(try await PostgresEventStore.dropSchema(configuration: configuration))
    }

    @Test("dropStoreTables drops a store that holds only its own objects")
    func dropStoreTablesDropsAStoreOfItsOwn() async throws {
        let configuration = try await Self.closedStore()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        let found = try await PostgresEventStore.inspectSchema(configuration: configuration)
        #expect(found.holdsOnlyTheStore, "\(found)")
        try await PostgresEventStore.dropStoreTables(configuration: configuration)
        #expect(try await Self.tables(configuration) == 0)
    }

    /// An administration call that another session's lock holds up.
    enum BlockedCall: String, CaseIterable, Sendable {
        case dropStoreTables, dropStoreTablesWhileMigrating, dropSchema, inspectSchema, installedSchemaVersion

        /// The lock that holds the call up: a backup's for the drops, another process's migration lock, or a schema
        /// change's for the reads.
        func lock(_ schema: String) -> String {
            switch self {
            case .dropStoreTables, .dropSchema: "LOCK TABLE \"\(schema)\".events IN ACCESS SHARE MODE"
            case .dropStoreTablesWhileMigrating:
                "SELECT pg_advisory_xact_lock(\(PostgresSchema.lockClass + 1), hashtext('\(schema)'))"
            case .inspectSchema, .installedSchemaVersion:
                "LOCK TABLE \"\(schema)\".schema_version IN ACCESS EXCLUSIVE MODE"
            }
        }

        func call(_ configuration: PostgresEventStore.Configuration) async throws {
            switch self {
            case .dropStoreTables, .dropStoreTablesWhileMigrating:
                try await PostgresEventStore.dropStoreTables(configuration: configuration)
            case .dropSchema: try await PostgresEventStore.dropSchema(configuration: configuration)
            case .inspectSchema: _ = try await PostgresEventStore.inspectSchema(configuration: configuration)
            case .installedSchemaVersion:
                _ = try await PostgresEventStore.installedSchemaVersion(configuration: configuration)
            }
        }
    }

    @Test(
        "an administration call behind a table another session holds fails within the request timeout",
        arguments: BlockedCall.allCases)
    func administrationIsBoundedBehindALock(_ blocked: BlockedCall) async throws {
        let configuration = try await Self.closedStore(requestTimeout: .seconds(2))
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        let tables = try await Self.tables(configuration)
        let other = try await PostgresTestServer.connect(configuration, id: 6)
        let logger = Logger(label: "drop")
        try await other.query("BEGIN", logger: logger)
        _ = try await other.query(PostgresQuery(unsafeSQL: blocked.lock(configuration.schema)), logger: logger).collect()

        // The call must end by its own 2 s request timeout; the suite's time limit fails it if it waits on.
        let result: String
        do {
            try await blocked.call(configuration)
            result = "returned"
        } catch {
            result = "threw \(error)"
        }
        _ = try? await other.query("ROLLBACK", logger: logger)
        try? await other.close()
        #expect(result.hasPrefix("threw") && result.contains("unavailable"), "\(result)")
        #expect(try await Self.tables(configuration) == tables, "\(blocked) changed the schema")
    }
}
