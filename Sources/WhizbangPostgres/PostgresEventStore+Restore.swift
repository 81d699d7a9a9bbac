import Foundation
package import Logging
package import PostgresNIO
import Synchronization
public import Whizbang

extension PostgresEventStore {
    /// Writes a whole log — recorded events with their own positions, stream versions and recording times — into a
    /// new store in `configuration`'s schema, in one transaction: all or nothing, whenever the process or the
    /// connection ends.
    ///
    /// Where an append gives each event the next position and the time of its commit, a restore keeps what it is
    /// given, so that a log exported from one store and restored into another reads back the same, field for field.
    /// The whole log is checked first with `EventStoreValidation/validateRestore(_:maximumPayloadBytes:)`. Then, on
    /// a connection of its own and in one transaction holding the migration lock, the schema is checked to hold
    /// nothing (no store and no other objects; with `marker`, see below), the store's tables are created as a first
    /// ``run()`` would, and the streams, events and checkpoints are inserted. No store may run on the schema
    /// meanwhile; run one afterwards. Each lock wait and each statement (a chunk of at most 4,096 events and about
    /// 8 MiB) may take at most ``Configuration/requestTimeout``.
    ///
    /// With `marker`, the schema may also hold a store that carries a checkpoint for the consumer `marker` — a mark
    /// the caller wrote into a store it created, to know it again — and nothing else: that store's tables are dropped
    /// in the same transaction, so that the schema afterwards holds the old store or the new one, never neither. The
    /// privileges that other roles (or `PUBLIC`) held on the old store's tables, their columns and its sequence are
    /// given again on the new ones, each with its grant option, so that a role set up to read the store keeps reading
    /// it. The new tables and the store's functions belong to the role that restores, with PostgreSQL's default
    /// privileges: a different owner of the old tables, and privileges changed on the store's functions (a revoked
    /// `EXECUTE`), are not carried over; restore as the store's owner, or set them again.
    /// A store without the mark, a schema holding anything else, and a store that runs (on this server, in this
    /// process or another) are refused, and nothing is changed.
    ///
    /// - Parameters:
    ///   - events: The log, in position order.
    ///   - checkpoints: Checkpoints to write in the same transaction, by consumer name.
    ///   - configuration: Where the store goes; its schema must be missing or empty, or, with `marker`, hold a store
    ///     that carries that mark.
    ///   - marker: The consumer name of the checkpoint that marks a store this restore may replace; `nil` (the
    ///     default) replaces nothing.
    ///   - progress: Called with the number of events sent so far, every 4,096 events and once before the commit;
    ///     return `false` to stop (the transaction is rolled back).
    /// - Returns: The number of events written.
    /// - Throws: `EventStoreError` — what `EventStoreValidation/validateRestore(_:maximumPayloadBytes:)` throws;
    ///   `invalidArgument` when the schema holds anything but a store it may replace, or a store that runs (the
    ///   message says what), for an invalid consumer name (of a checkpoint or `marker`), a checkpoint above
    ///   `EventStoreValidation/maximumPosition` or an invalid configuration; `readOnly` for a configuration with
    ///   ``Configuration/isReadOnly``; `unavailable` (retryable) when a lock or a statement took longer than
    ///   ``Configuration/requestTimeout`` or the connection was lost; the server's refusal otherwise.
    ///   `CancellationError` when `progress` returned `false`. In every case the schema is left as it was, but one:
    ///   an `unavailable` that ended the wait for the `COMMIT`'s answer leaves the outcome unknown (the schema then
    ///   holds what it held or the whole new store; ``inspectSchema(configuration:)`` tells which).
    @discardableResult
    public static func restore(
        _ events: [RecordedEvent],
        checkpoints: [String: UInt64] = [:],
        configuration: Configuration,
        replacingStoreMarkedBy marker: String? = nil,
        progress: @escaping @Sendable (_ eventsWritten: Int) -> Bool = { _ in true }
    ) async throws -> Int {
        try await restore(
            events, checkpoints: checkpoints, configuration: configuration, replacingStoreMarkedBy: marker,
            refusal: { _, _ in nil }, progress: progress)
    }

    /// ``restore(_:checkpoints:configuration:replacingStoreMarkedBy:progress:)``, asking `refusal` in its
    /// transaction, once the schema has passed the restore's own checks and before anything is dropped or written,
    /// whether to go on: with the migration lock held and, when a store is replaced, the schema's use lock, so that
    /// no store runs on the schema until the transaction ends. When `refusal` returns an error, the transaction is
    /// rolled back, nothing is changed, and the restore throws that error as it is; an error `refusal` throws is a
    /// failure of the restore's own (an `EventStoreError`).
    @discardableResult
    package static func restore(
        _ events: [RecordedEvent],
        checkpoints: [String: UInt64] = [:],
        configuration: Configuration,
        replacingStoreMarkedBy marker: String? = nil,
        refusal: (PostgresConnection, Logger) async throws -> (any Error)?,
        progress: @escaping @Sendable (_ eventsWritten: Int) -> Bool = { _ in true }
    ) async throws -> Int {
        try configuration.validate()
        guard !configuration.isReadOnly else {
            throw EventStoreError(.readOnly, message: "a restore writes; the configuration is read-only")
        }
        let versions = try EventStoreValidation.validateRestore(
            events, maximumPayloadBytes: configuration.maximumPayloadBytes)
        for (consumer, position) in checkpoints {
            try EventStoreValidation.validateCheckpoint(position, for: consumer)
        }
        if let marker { try EventStoreValidation.validateCheckpoint(0, for: marker) }
        let schema = configuration.schema
        let stopped = Atomic<Bool>(false)
        let refused = Mutex<(any Error)?>(nil)
        do {
            try await withOwnConnection(configuration) { connection, logger in
                // The connection bounds every wait of the transaction: for a lock, and for each statement.
                try await connection.withStoreTransaction(logger: logger) {
                    try await connection.run(
                        "SELECT pg_advisory_xact_lock(\(PostgresSchema.lockClass + 1), hashtext(\(schema)))",
                        logger: logger
                    )
                    let found = try await inspect(schema, on: connection, logger: logger)
                    guard found.otherObjects.isEmpty else {
                        throw EventStoreError(
                            .invalidArgument, message: "\(found); a restore writes only a new store, nothing was changed")
                    }
                    if found.holdsStore {
                        guard let marker else {
                            throw EventStoreError(
                                .invalidArgument,
                                message: "\(found); a restore writes only a new store, nothing was changed")
                        }
                        guard try await holdsCheckpoint(of: marker, in: schema, on: connection, logger: logger) else {
                            throw EventStoreError(
                                .invalidArgument,
                                message: "\(found) without the mark '\(marker)'; a restore replaces only a store "
                                    + "marked as the caller's, nothing was changed")
                        }
                        try await refuseIfInUse(schema, on: connection, logger: logger)
                    }
                    if let error = try await refusal(connection, logger) {
                        refused.withLock { $0 = error }
                        throw error
                    }
                    // The privileges others were given on the old store's tables (a role that reads them) go with
                    // the tables: read first, given again on the new ones.
                    var grants: [String] = []
                    if found.holdsStore {
                        grants = try await grantsOnOwnTables(in: schema, on: connection, logger: logger)
                        try await dropOwnObjects(schema, on: connection, logger: logger)
                    }
                    try await PostgresSchema.migrateInTransaction(connection, schema: schema, logger: logger)
                    for grant in grants { try await connection.run(PostgresQuery(unsafeSQL: grant), logger: logger) }
                    try await insert(
                        versions, events, checkpoints, schema: schema, on: connection, logger: logger
                    ) { written in
                        guard progress(written) else {
                            stopped.store(true, ordering: .relaxed)
                            return false
                        }
                        return true
                    }
                }
            }
        } catch {
            if stopped.load(ordering: .relaxed) { throw CancellationError() }
            if let refusal = refused.withLock({ $0 }) { throw refusal }
            throw error
        }
        return events.count
    }

    /// The `GRANT` statements that give again, on tables and sequences of the same names, the privileges that roles
    /// other than their owner hold on the store's tables, their columns and its sequences in `schema` (each grantee
    /// with its grant option; `PUBLIC` too).
    static func grantsOnOwnTables(in schema: String, on connection: PostgresConnection, logger: Logger) async throws
        -> [String]
    {
        let names = ownTables + ownSequences
        return try await connection.rows(
            """
            WITH own AS (
                SELECT c.oid, c.relowner, c.relacl, format('%I.%I', n.nspname, c.relname) AS name,
                    CASE WHEN c.relkind = 'S' THEN 'SEQUENCE ' ELSE '' END AS kind
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = \(schema) AND c.relname = ANY(\(names)) AND c.relkind IN ('r', 'p', 'S')
            ), privileges AS (
                SELECT own.kind || own.name AS target, NULL::name AS column_name, a.privilege_type, a.grantee,
                    a.is_grantable, own.relowner
                FROM own CROSS JOIN LATERAL aclexplode(own.relacl) AS a
                UNION ALL
                SELECT own.name, t.attname, a.privilege_type, a.grantee, a.is_grantable, own.relowner
                FROM own JOIN pg_attribute t ON t.attrelid = own.oid AND t.attnum > 0 AND NOT t.attisdropped
                CROSS JOIN LATERAL aclexplode(t.attacl) AS a
            )
            SELECT format('GRANT %s%s ON %s TO %s%s', privilege_type,
                    CASE WHEN column_name IS NULL THEN '' ELSE format(' (%I)', column_name) END, target,
                    CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(grantee)) END,
                    CASE WHEN is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
            FROM privileges WHERE grantee <> relowner
            ORDER BY 1
            """, decoding: String.self, logger: logger)
    }

    /// Whether the store in `schema` holds a checkpoint for `consumer`.
    private static func holdsCheckpoint(
        of consumer: String, in schema: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        let count = try await connection.rows(
            "SELECT count(*)::bigint FROM \(unescaped: "\"\(schema)\"").checkpoints WHERE consumer = \(consumer)",
            decoding: Int64.self, logger: logger)
        return count.first == 1
    }

    /// Inserts the streams at their final versions, then the events in chunks, then the checkpoints.
    private static func insert(
        _ versions: [StreamID: UInt64],
        _ events: [RecordedEvent],
        _ checkpoints: [String: UInt64],
        schema: String,
        on connection: PostgresConnection,
        logger: Logger,
        progress: (Int) -> Bool
    ) async throws {
        let quoted = "\"\(schema)\""
        // Streams in the order they first appear, so their keys follow the log as an append's would.
        var order: [StreamID] = []
        var seen = Set<StreamID>(minimumCapacity: versions.count)
        for event in events where seen.insert(event.streamID).inserted { order.append(event.streamID) }
        let streamChunk = 16_384
        for start in stride(from: 0, to: order.count, by: streamChunk) {
            let chunk = order[start..<min(start + streamChunk, order.count)]
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(chunk.map(\.rawValue))
            bindings.append(chunk.map { Int64(bitPattern: versions[$0] ?? 0) })
            try await connection.run(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO \(quoted).streams (stream_id, version)
                        SELECT stream_id, version FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY
                            AS s(stream_id, version, ordinal) ORDER BY ordinal
                        """,
                    binds: bindings),
                logger: logger)
        }
        let eventChunk = 4096
        let chunkBytes = 8 << 20
        var start = 0
        while start < events.count {
            guard progress(start) else { throw CancellationError() }
            // A chunk is at most 4,096 events and about 8 MiB of data and metadata: its statement must reach the
            // server and be answered within the request deadline, which the client counts from the first byte sent.
            var end = start
            var bytes = 0
            while end < events.count, end - start < eventChunk, end == start || bytes < chunkBytes {
                bytes += events[end].data.count + events[end].metadata.count
                end += 1
            }
            let chunk = events[start..<end]
            start = end
            var bindings = PostgresBindings(capacity: 9)
            bindings.append(chunk.map { Int64(bitPattern: $0.position) })
            bindings.append(chunk.map(\.streamID.rawValue))
            bindings.append(chunk.map { Int64(bitPattern: $0.streamVersion) })
            bindings.append(chunk.map(\.eventID.uuid))
            bindings.append(chunk.map(\.eventType))
            bindings.append(chunk.map { ByteBuffer(bytes: $0.data) })
            bindings.append(chunk.map { ByteBuffer(bytes: $0.metadata) })
            bindings.append(
                try chunk.map { event throws(EventStoreError) -> Int64 in
                    guard let micro = Int64(exactly: (event.recordedAt.timeIntervalSince1970 * 1_000_000).rounded())
                    else {
                        throw EventStoreError(
                            .invalidArgument, streamID: event.streamID,
                            message: "event \(event.eventID) has a recording time out of range")
                    }
                    return micro
                })
            bindings.append(chunk.map { Int32(clamping: $0.schemaVersion) })
            // The recording time travels as microseconds since 1970 and is added to the epoch as an interval.
            // PostgreSQL multiplies the interval by the count as a float8, which is exact within 2^53 microseconds of
            // 1970 (the years 1685 to 2255): every time that a `Date` holds to the microsecond, so the stored time is
            // the event's.
            try await connection.run(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO \(quoted).events
                            (position, stream_key, version, event_id, event_type, data, metadata, recorded_at,
                            schema_version)
                        SELECT e.position, s.stream_key, e.version, e.event_id, e.event_type, e.data, e.metadata,
                            timestamptz 'epoch' + e.microseconds * interval '1 microsecond', e.schema_version
                        FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::bytea[],
                            $7::bytea[], $8::bigint[], $9::integer[])
                            AS e(position, stream_id, version, event_id, event_type, data, metadata, microseconds,
                                schema_version)
                        JOIN \(quoted).streams s ON s.stream_id = e.stream_id
                        """,
                    binds: bindings),
                logger: logger)
        }
        if !checkpoints.isEmpty {
            let sorted = checkpoints.sorted { $0.key < $1.key }
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(sorted.map(\.key))
            bindings.append(sorted.map { Int64(bitPattern: $0.value) })
            try await connection.run(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO \(quoted).checkpoints (consumer, position)
                        SELECT * FROM unnest($1::text[], $2::bigint[])
                        """,
                    binds: bindings),
                logger: logger)
        }
        guard progress(events.count) else { throw CancellationError() }
    }
}
