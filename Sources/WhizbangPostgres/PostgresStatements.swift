import Foundation
import PostgresNIO
import Whizbang

/// The SQL the store runs with new bindings each time, through `PostgresConnection.rows(of:logger:)`.
///
/// Table names are unqualified: every connection of the store has `search_path` set to its schema.
enum PostgresStatements {
    /// Runs one group commit: see ``PostgresSchema/appendFunction(schemaVersions:)``, through
    /// ``PostgresSchema/fencedAppendFunction``, for the tables of ``tables``.
    struct AppendBatch: PostgresPreparedStatement {
        static let sql = """
            SELECT status, stream_version, first_position, inserted
            FROM append_batch_fenced(
                $1::bigint::oid, $2::text[], $3::bigint[], $4::integer[], $5::uuid[], $6::text[], $7::bytea[],
                $8::bytea[], $9::integer[])
            """
        /// What the append function decided for one append, in the `status` column.
        enum Status: Int32 {
            /// Written, or a retry of events already stored at the same place (idempotent); the row has the stream
            /// version and the first position.
            case committed = 0
            /// The stream's version is not the expected one; the row has the actual version.
            case wrongExpectedVersion = 1
            /// An event id of the append is stored at another place.
            case duplicateEventID = 2
        }

        /// How an expected version travels in the function's `bigint` array; `n >= 0` is exactly `n`.
        enum ExpectedVersionCode: Int64 {
            case any = -1
            case noStream = -2
            case streamExists = -3
        }

        /// One append's result row.
        struct Row: Sendable {
            var rawStatus: Int32
            var streamVersion: Int64
            var firstPosition: Int64
            /// Whether the append wrote its events (false for a retry that matched events already stored).
            var inserted: Bool

            /// The decision, or `nil` for a status this version does not know.
            var status: Status? { Status(rawValue: rawStatus) }
        }

        /// Checks that `rows` are one per append, each with values an append of its `eventCounts` can have: the
        /// store's own function returns no other, a caller's (``PostgresAppendCall``) might.
        ///
        /// - Throws: `EventStoreError/Code/storageFailure` otherwise.
        static func check(_ rows: [Row], eventCounts: [Int]) throws(EventStoreError) {
            guard rows.count == eventCounts.count else {
                throw EventStoreError(
                    .storageFailure,
                    message: "the append function returned \(rows.count) rows for \(eventCounts.count) appends")
            }
            for (row, count) in zip(rows, eventCounts.lazy.map(Int64.init)) {
                var fits = row.streamVersion >= 0 && row.firstPosition >= 0
                if row.status == .committed {
                    fits = fits && row.firstPosition <= Int64.max - count && (count == 0 || row.firstPosition >= 1)
                    fits = fits && (!row.inserted || row.streamVersion >= count)
                }
                guard fits else {
                    throw EventStoreError(
                        .storageFailure,
                        message: "the append function returned version \(row.streamVersion) and first position "
                            + "\(row.firstPosition) for an append of \(count) events")
                }
            }
        }

        /// The object id of the `events` table the store opened (``StoreTables``), which the fence compares.
        var tables: Int64 = 0
        var streamIDs: [String] = []
        var expectedVersions: [Int64] = []
        var counts: [Int32] = []
        var eventIDs: [UUID] = []
        var eventTypes: [String] = []
        var data: [ByteBuffer] = []
        var metadata: [ByteBuffer] = []
        var schemaVersions: [Int32] = []

        mutating func add(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion) {
            streamIDs.append(streamID.rawValue)
            expectedVersions.append(Self.encode(expectedVersion))
            counts.append(Int32(events.count))
            for event in events {
                eventIDs.append(event.eventID.uuid)
                eventTypes.append(event.eventType)
                data.append(ByteBuffer(bytes: event.data))
                metadata.append(ByteBuffer(bytes: event.metadata))
                // Validated to fit: EventStoreValidation.validSchemaVersions.
                schemaVersions.append(Int32(clamping: event.schemaVersion))
            }
        }

        /// The ``ExpectedVersionCode`` of a condition, or the exact version (clamped: no stream reaches
        /// `Int64.max`).
        static func encode(_ expectedVersion: ExpectedVersion) -> Int64 {
            switch expectedVersion {
            case .any: ExpectedVersionCode.any.rawValue
            case .noStream: ExpectedVersionCode.noStream.rawValue
            case .streamExists: ExpectedVersionCode.streamExists.rawValue
            case .exact(let version): Int64(clamping: version)
            }
        }

        /// An empty group commit for the tables of `tables`.
        init(tables: Int64) { self.tables = tables }

        /// One group commit of `appends`, in order, for the tables of `tables` (0 when the statement only binds the
        /// append arrays, ``bind(into:)``).
        init(_ appends: [PostgresStoreAppend], tables: Int64 = 0) {
            self.tables = tables
            for append in appends { add(append.events, to: append.streamID, expectedVersion: append.expectedVersion) }
        }

        /// The SQL types of the append function's parameters, in order (the fence's `tables` is not one of them).
        static let parameterTypes = ["text[]", "bigint[]", "integer[]", "uuid[]", "text[]", "bytea[]", "bytea[]", "integer[]"]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 9)
            bindings.append(tables)
            bind(into: &bindings)
            return bindings
        }

        /// Appends the append function's arguments, in order, to `bindings`.
        func bind(into bindings: inout PostgresBindings) {
            bindings.append(streamIDs)
            bindings.append(expectedVersions)
            bindings.append(counts)
            bindings.append(eventIDs)
            bindings.append(eventTypes)
            bindings.append(data)
            bindings.append(metadata)
            bindings.append(schemaVersions)
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            let (status, streamVersion, firstPosition, inserted) = try row.decode((Int32, Int64, Int64, Bool).self)
            return Row(rawStatus: status, streamVersion: streamVersion, firstPosition: firstPosition, inserted: inserted)
        }
    }

    /// ``AppendBatch`` committed in the same exchange, through
    /// ``PostgresSchema/fencedCommittedAppendProcedure``: one row of four arrays, decoded to one ``AppendBatch/Row``
    /// per append. Run it outside a transaction.
    struct CommittedAppendBatch: PostgresPreparedStatement {
        static let sql = """
            CALL append_batch_fenced_committed(
                $1::bigint::oid, $2::text[], $3::bigint[], $4::integer[], $5::uuid[], $6::text[], $7::bytea[],
                $8::bytea[], $9::integer[])
            """
        typealias Row = [AppendBatch.Row]

        var batch: AppendBatch

        func makeBindings() throws -> PostgresBindings { try batch.makeBindings() }

        func decodeRow(_ row: PostgresRow) throws -> [AppendBatch.Row] {
            try Self.decode(row, procedure: "append_batch_fenced_committed")
        }

        /// The rows of a committing procedure's one answer row (`PostgresAppendCall/committingProcedure`).
        static func rows(from answer: [PostgresRow], procedure: String) throws -> [AppendBatch.Row] {
            guard answer.count == 1 else {
                throw EventStoreError(
                    .storageFailure, message: "\(procedure) answered with \(answer.count) rows, not one")
            }
            return try decode(answer[0], procedure: procedure)
        }

        private static func decode(_ row: PostgresRow, procedure: String) throws -> [AppendBatch.Row] {
            let (statuses, versions, positions, inserted) = try row.decode(
                ([Int32]?, [Int64]?, [Int64]?, [Bool]?).self)
            let (statusList, versionList, positionList, insertedList) =
                (statuses ?? [], versions ?? [], positions ?? [], inserted ?? [])
            guard versionList.count == statusList.count, positionList.count == statusList.count,
                insertedList.count == statusList.count
            else {
                throw EventStoreError(
                    .storageFailure, message: "\(procedure) answered with arrays of different lengths")
            }
            return statusList.indices.map { index in
                AppendBatch.Row(
                    rawStatus: statusList[index], streamVersion: versionList[index],
                    firstPosition: positionList[index], inserted: insertedList[index])
            }
        }
    }

    /// The global log after a position.
    struct ReadAll: PostgresPreparedStatement {
        static let sql = """
            SELECT \(RecordedEventColumns.withStreamID)
            FROM events e JOIN streams s ON s.stream_key = e.stream_key
            WHERE e.position > $1 ORDER BY e.position LIMIT $2
            """
        typealias Row = RecordedEvent

        var after: Int64
        var limit: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(after)
            bindings.append(limit)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> RecordedEvent {
            try RecordedEventColumns.decode(row)
        }
    }

    /// The events of some types in a range of the global log, `(after, through]`, in order.
    struct ReadAllOfTypes: PostgresPreparedStatement {
        static let sql = """
            SELECT \(RecordedEventColumns.withStreamID)
            FROM events e JOIN streams s ON s.stream_key = e.stream_key
            WHERE e.position > $1 AND e.position <= $2 AND e.event_type = ANY($3) ORDER BY e.position LIMIT $4
            """
        typealias Row = RecordedEvent

        var after: Int64
        var through: Int64
        var eventTypes: [String]
        var limit: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(after)
            bindings.append(through)
            bindings.append(eventTypes)
            bindings.append(limit)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> RecordedEvent {
            try RecordedEventColumns.decode(row)
        }
    }

    /// The event with an id, through the unique index on event ids.
    struct EventByID: PostgresPreparedStatement {
        static let sql = """
            SELECT \(RecordedEventColumns.withStreamID)
            FROM events e JOIN streams s ON s.stream_key = e.stream_key
            WHERE e.event_id = $1
            """
        typealias Row = RecordedEvent

        var eventID: MessageID

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(eventID.uuid)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> RecordedEvent {
            try RecordedEventColumns.decode(row)
        }
    }

    /// One stream's events from a version on, forwards. The stream's key comes from a subquery rather than a join:
    /// the statement is planned with each call, and this form plans in about half the time.
    struct ReadStreamForwards: StreamRead {
        static let sql = """
            SELECT \(RecordedEventColumns.withoutStreamID)
            FROM events e
            WHERE e.stream_key = (SELECT stream_key FROM streams WHERE stream_id = $1) AND e.version >= $2
            ORDER BY e.version LIMIT $3
            """
        var streamID: StreamID
        var version: Int64
        var limit: Int64
    }

    /// One stream's events from a version down, backwards.
    struct ReadStreamBackwards: StreamRead {
        static let sql = """
            SELECT \(RecordedEventColumns.withoutStreamID)
            FROM events e
            WHERE e.stream_key = (SELECT stream_key FROM streams WHERE stream_id = $1) AND e.version <= $2
            ORDER BY e.version DESC LIMIT $3
            """
        var streamID: StreamID
        var version: Int64
        var limit: Int64
    }

    /// The last position of the log, 0 when it is empty.
    struct Head: PostgresPreparedStatement {
        static let sql = "SELECT coalesce(max(position), 0)::bigint FROM events"
        typealias Row = Int64

        func makeBindings() throws -> PostgresBindings { PostgresBindings() }
        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    /// A stream's version; no row for a stream without events.
    struct StreamVersion: PostgresPreparedStatement {
        static let sql = "SELECT version FROM streams WHERE stream_id = $1"
        typealias Row = Int64

        var streamID: StreamID

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(streamID.rawValue)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    /// A consumer's checkpoint; no row when it never saved one.
    struct LoadCheckpoint: PostgresPreparedStatement {
        static let sql = "SELECT position FROM checkpoints WHERE consumer = $1"
        typealias Row = Int64

        var consumer: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(consumer)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    /// The first part of a fenced write (``SaveCheckpoint``, ``SaveSnapshot``): the object id of the `events` table
    /// the session's search path finds now, 0 when none, which the write compares with the store's (its last
    /// parameter) and which the statement returns.
    ///
    /// The statement locks the table it writes into before it runs, and a drop holds that table's lock until it
    /// commits: so the id is read after any drop of the table has committed, and a write whose id differs writes
    /// nothing. A drop still in progress is seen as not made, and the write goes into the table being dropped.
    static let fence = "WITH fence AS (SELECT coalesce(to_regclass('events')::oid::bigint, 0) AS tables)"

    /// Saves a consumer's checkpoint, replacing the one before, unless the store's tables were replaced (``fence``);
    /// returns the tables' object id. Positions are stored as their 64-bit pattern.
    struct SaveCheckpoint: PostgresPreparedStatement {
        static let sql = """
            \(fence), written AS (
                INSERT INTO checkpoints (consumer, position) SELECT $1, $2 FROM fence WHERE fence.tables = $3
                ON CONFLICT (consumer) DO UPDATE SET position = excluded.position
                RETURNING 1
            )
            SELECT tables FROM fence
            """
        typealias Row = Int64

        var consumer: String
        var position: Int64
        var tables: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(consumer)
            bindings.append(position)
            bindings.append(tables)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    /// A stream's latest snapshot; no row when there is none.
    struct LoadSnapshot: PostgresPreparedStatement {
        static let sql = "SELECT version, state_type, data FROM snapshots WHERE stream_id = $1"
        typealias Row = Snapshot

        var streamID: StreamID

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(streamID.rawValue)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Snapshot {
            let (version, stateType, data) = try row.decode((Int64, String, Data).self)
            return Snapshot(
                streamID: streamID, streamVersion: UInt64(max(0, version)), stateType: stateType, data: data)
        }
    }

    /// Saves a snapshot unless the stored one has a higher stream version, or the store's tables were replaced
    /// (``fence``); returns the tables' object id.
    struct SaveSnapshot: PostgresPreparedStatement {
        static let sql = """
            \(fence), written AS (
                INSERT INTO snapshots (stream_id, version, state_type, data, saved_at)
                SELECT $1, $2, $3, $4, now() FROM fence WHERE fence.tables = $5
                ON CONFLICT (stream_id) DO UPDATE
                SET version = excluded.version, state_type = excluded.state_type, data = excluded.data,
                    saved_at = excluded.saved_at
                WHERE snapshots.version <= excluded.version
                RETURNING 1
            )
            SELECT tables FROM fence
            """
        typealias Row = Int64

        var snapshot: Snapshot
        var tables: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 5)
            bindings.append(snapshot.streamID.rawValue)
            bindings.append(Int64(clamping: snapshot.streamVersion))
            bindings.append(snapshot.stateType)
            try bindings.append(snapshot.data)
            bindings.append(tables)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }
}

/// A row of `ReadStreamForwards` or `ReadStreamBackwards`, whose stream is the one asked for.
/// A read of one stream's events from a version, in either direction: the two differ only in their SQL.
protocol StreamRead: PostgresPreparedStatement where Row == RecordedEvent {
    var streamID: StreamID { get }
    var version: Int64 { get }
    var limit: Int64 { get }
}

extension StreamRead {
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(streamID.rawValue)
        bindings.append(version)
        bindings.append(limit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> RecordedEvent {
        try RecordedEventColumns.decode(row, streamID: streamID)
    }
}
