import Whizbang

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The database layout and its forward migrations.
///
/// The tables, as the `sqlite3` shell shows them:
/// - `schema_version(version, applied_at)`: one row per migration applied.
/// - `streams(stream_key INTEGER PRIMARY KEY, stream_id TEXT UNIQUE, version)`: each stream's compact integer key.
///   A stream's current version is the largest `version` of its events (one seek in `events_by_stream`): since
///   schema version 2 the `version` column holds the version the stream was created (or restored) at and is not
///   updated by appends, which saves writing a page of this table for nearly every append. Schema version 1 kept
///   it current; both read the same.
/// - `events(position INTEGER PRIMARY KEY, stream_key, version, event_id BLOB, event_type TEXT, data, metadata,
///   recorded_at, schema_version)`: the global log. `position` is the row id, so rows are stored in commit order; `(stream_key,
///   version)` and `event_id` (a 16-byte UUID, time-ordered for UUIDv7) are unique. `data` and `metadata` are
///   stored as `TEXT` when they are valid UTF-8 (JSON is then legible as is) and as `BLOB` otherwise; empty
///   metadata is `NULL`. `recorded_at` is Unix time in microseconds
///   (`SELECT datetime(recorded_at / 1000000, 'unixepoch') FROM events`). `schema_version` (since schema version 3)
///   is the version of the event type's shape the data is written in (``Whizbang/EventData/schemaVersion``); the
///   migration gives every event stored before it 1.
/// - `checkpoints(consumer TEXT PRIMARY KEY, position)`.
/// - `snapshots(stream_id TEXT PRIMARY KEY, version, state_type TEXT, data, saved_at)`: the latest snapshot of each
///   stream.
/// - `read_models(name TEXT PRIMARY KEY, served_generation, served_version, position, building_generation,
///   building_version, building_position, state TEXT, failure TEXT)` (since schema version 4): where each read model
///   (`Whizbang/ReadModelProjection`) stands. `served_generation` is the generation of rows queries read (`NULL`
///   during the first backfill) and `position` the last event applied to it; a rebuild writes a new
///   `building_generation` up to `building_position`. `state` is `backfilling`, `live`, `failed` (`failure` holds
///   what the projection threw; the read model stops) or `rebuild failed` (`failure` is of the build, which stops;
///   the served generation goes on).
/// - `read_model_rows(model TEXT, generation, key TEXT, index_value TEXT, position, body)` (since schema version 4),
///   keyed `(model, generation, key)` without a row id, indexed on `(model, generation, index_value, key)`: the rows
///   of every generation of every read model, `body` being the row's JSON. Keys compare as UTF-8 bytes (SQLite's
///   `BINARY` collation).
///
/// Two marks say that the store created the file: its `PRAGMA application_id`, and the `whizbang_store(key, value)`
/// table written in the same transaction as the first tables (`created_by`, `created_at`). A store removes a file
/// only when it carries both (see ``SQLiteEventStore/destroyStore(at:)``); databases made before the table existed
/// open and work as before, but are never removed.
enum SQLiteSchema {
    /// `PRAGMA application_id` of a Whizbang store: "Whiz" in ASCII.
    static let applicationID: Int64 = 0x5768_697A

    /// The table that marks a database the store created itself.
    static let markTable = "whizbang_store"

    /// The `created_by` value in ``markTable``.
    static let markCreator = "Whizbang"

    /// The migrations, in order; migration `n` (1-based) brings the schema to version `n`. Append new ones; never
    /// change a published one.
    static let migrations: [String] = [
        """
        CREATE TABLE streams (
            stream_key INTEGER PRIMARY KEY,
            stream_id TEXT NOT NULL UNIQUE,
            version INTEGER NOT NULL
        );
        CREATE TABLE events (
            position INTEGER PRIMARY KEY,
            stream_key INTEGER NOT NULL REFERENCES streams (stream_key),
            version INTEGER NOT NULL,
            event_id BLOB NOT NULL,
            event_type TEXT NOT NULL,
            data NOT NULL,
            metadata,
            recorded_at INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX events_by_stream ON events (stream_key, version);
        CREATE UNIQUE INDEX events_by_id ON events (event_id);
        CREATE TABLE checkpoints (
            consumer TEXT PRIMARY KEY,
            position INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE snapshots (
            stream_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            state_type TEXT NOT NULL,
            data NOT NULL,
            saved_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
        // 2: appends no longer update `streams.version` (see the type's notes). Nothing to change in the data: a
        // version-1 database's columns are current, and its streams' versions read the same from their events.
        // The version number keeps code that trusts the column from writing to a database where it is stale.
        """
        SELECT 1;
        """,
        // 3: each event's schema version. SQLite adds a column with a constant default without rewriting the table:
        // every event stored before reads 1, and the migration takes the same time for any size of log.
        """
        ALTER TABLE events ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 1;
        """,
        // 4: read models. Two new tables, empty until a read model is registered; nothing existing changes.
        """
        CREATE TABLE read_models (
            name TEXT PRIMARY KEY,
            served_generation INTEGER,
            served_version INTEGER,
            position INTEGER NOT NULL,
            building_generation INTEGER,
            building_version INTEGER,
            building_position INTEGER,
            state TEXT NOT NULL,
            failure TEXT
        ) WITHOUT ROWID;
        CREATE TABLE read_model_rows (
            model TEXT NOT NULL,
            generation INTEGER NOT NULL,
            key TEXT NOT NULL,
            index_value TEXT,
            position INTEGER NOT NULL,
            body NOT NULL,
            PRIMARY KEY (model, generation, key)
        ) WITHOUT ROWID;
        CREATE INDEX read_model_rows_by_index ON read_model_rows (model, generation, index_value, key);
        """,
    ]

    /// The first schema version whose `events` table has the `schema_version` column.
    static let eventSchemaVersionColumnSince: Int64 = 3

    /// A stream's key and current version by its id: the largest version of its events, 0 before its first.
    static let selectStreamSQL = """
        SELECT stream_key,
            coalesce((SELECT max(version) FROM events WHERE events.stream_key = streams.stream_key), 0)
        FROM streams WHERE stream_id = ?1
        """

    /// The schema version this code writes.
    static var currentVersion: Int64 { Int64(migrations.count) }

    /// Creates the schema in a new database or brings an older one up to date, in one transaction; for a new
    /// database, `whenCreated` runs in that transaction too, so that what it writes is there from the first commit.
    ///
    /// - Throws: `EventStoreError/Code/incompatibleSchema` for a database of a newer schema or of another
    ///   application; the connection's mapped errors otherwise.
    static func migrate(
        _ connection: SQLiteConnection, nowMicroseconds: Int64,
        whenCreated: ((SQLiteConnection) throws -> Void)? = nil
    ) throws(EventStoreError) {
        do {
            try connection.execute("BEGIN IMMEDIATE")
            do {
                let created = try migrateInTransaction(connection, nowMicroseconds: nowMicroseconds)
                if created { try whenCreated?(connection) }
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        } catch {
            throw EventStoreError.storing(error)
        }
    }

    /// Refuses, before anything writes to the file, a database at `path` that ``migrate(_:nowMicroseconds:whenCreated:)``
    /// would refuse: another application's, or one of a newer schema. It is read as ``SQLiteEventStore/inspectFile(at:)``
    /// reads, so that a refused file is left as it was (opening it for writing first switches it to WAL mode).
    static func checkCompatible(path: String) throws(EventStoreError) {
        var status = stat()
        guard stat(path, &status) == 0,
            status.st_size > 0 || stat(SQLiteMadeCompanions.resolved(path) + "-wal", &status) == 0
        else { return }
        do {
            let connection = try SQLiteConnection.forInspection(path: path)
            defer { connection.close() }
            _ = try version(of: connection)
        } catch {
            throw EventStoreError.storing(error)
        }
    }

    /// The schema version of the database on `connection`, `nil` for one without tables whose `application_id` is
    /// the store's or SQLite's default 0 (a new file, or one a store stopped before it committed its tables).
    ///
    /// - Throws: `EventStoreError/Code/incompatibleSchema` for another application's database (with tables or
    ///   without), a newer schema, or a schema version below 1 (which no version of the store writes).
    static func version(of connection: SQLiteConnection) throws -> Int64? {
        // One statement, so one snapshot: read apart, a store creating the file between the two reads showed an id
        // of 0 beside its new tables, which looked like another application's database.
        let read = try connection.queryIntegers(
            "SELECT application_id, (SELECT count(*) FROM sqlite_schema) FROM pragma_application_id")
        let applicationID = read.first.flatMap { $0 } ?? 0
        let tableCount = read.dropFirst().first.flatMap { $0 } ?? 0
        // Checked before the tables: a database that another application marked as its own is not ours to take,
        // even before that application made its first table.
        guard applicationID == Self.applicationID || (applicationID == 0 && tableCount == 0) else {
            throw EventStoreError(
                .incompatibleSchema,
                message: "the database belongs to another application (application_id \(applicationID))"
            )
        }
        guard tableCount > 0 else { return nil }
        let hasVersionTable =
            try connection.queryInteger(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'"
            ) ?? 0
        guard hasVersionTable == 1 else {
            throw EventStoreError(.incompatibleSchema, message: "the database has no schema_version table")
        }
        let version = try connection.queryInteger("SELECT max(version) FROM schema_version") ?? 0
        guard version >= 1 else {
            throw EventStoreError(
                .incompatibleSchema,
                message: "the database has schema version \(version), which no version of this store writes"
            )
        }
        guard version <= currentVersion else {
            throw EventStoreError(
                .incompatibleSchema,
                message: "the database has schema version \(version); this code understands up to \(currentVersion)"
            )
        }
        return version
    }

    /// Returns whether the database was new. `target` is the version to stop at: the current one, but for the
    /// reference database of ``objectsNotCreated(on:)``.
    static func migrateInTransaction(
        _ connection: SQLiteConnection, nowMicroseconds: Int64, upTo target: Int64 = currentVersion
    ) throws -> Bool {
        let existing = try version(of: connection)
        if existing == nil {
            try connection.execute(
                """
                PRAGMA application_id = \(Self.applicationID);
                CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
                CREATE TABLE \(markTable) (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                INSERT INTO \(markTable) (key, value) VALUES
                    ('created_by', '\(markCreator)'), ('created_at', '\(nowMicroseconds)');
                """
            )
        }
        let version = existing ?? 0
        if existing != nil, version < target {
            try refuseObjectsNamedAsLater(than: version, upTo: target, on: connection)
        }
        for next in (version + 1)...max(version + 1, target) where next <= target {
            try connection.execute(migrations[Int(next) - 1])
            try connection.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (\(next), \(nowMicroseconds))"
            )
        }
        return existing == nil
    }

    /// Refuses, changing nothing, a database at `version` that holds objects named as those that the migrations up
    /// to `target` create (found by running them on a database in memory): someone else's, on which the migration
    /// would fail with SQLite's bare "already exists".
    ///
    /// - Throws: `EventStoreError/Code/invalidArgument` naming them.
    static func refuseObjectsNamedAsLater(
        than version: Int64, upTo target: Int64, on connection: SQLiteConnection
    ) throws {
        let reference = try SQLiteConnection(path: ":memory:", busyTimeoutMilliseconds: 0, inMemory: true)
        defer { reference.close() }
        let names = "SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        _ = try migrateInTransaction(reference, nowMicroseconds: 0, upTo: version)
        let before = Set(try reference.queryTexts(names))
        for next in (version + 1)...target { try reference.execute(migrations[Int(next) - 1]) }
        // The store's own names, which need no quoting beyond SQL's.
        let later = Set(try reference.queryTexts(names)).subtracting(before).sorted()
        guard !later.isEmpty else { return }
        let found = try connection.queryTexts(
            "SELECT type || ' ' || name FROM sqlite_schema WHERE name IN ("
                + later.map { "'\($0)'" }.joined(separator: ", ") + ")")
        guard !found.isEmpty else { return }
        throw EventStoreError(
            .invalidArgument,
            message: "the database holds a Whizbang store at schema version \(version) and \(listed(found.sorted())), "
                + "which are not its own: a later version of the store's schema creates objects of those names, so "
                + "this code (version \(target)) cannot migrate it; nothing was changed: rename or remove them, then "
                + "open the store again")
    }
}
