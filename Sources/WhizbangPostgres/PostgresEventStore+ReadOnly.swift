import Logging
import PostgresNIO
import Whizbang

extension PostgresEventStore {
    /// Fails a write of a store configured ``Configuration/isReadOnly`` before it is queued.
    func refuseWriteIfReadOnly(_ what: String, streamID: StreamID? = nil) throws(EventStoreError) {
        guard configuration.isReadOnly else { return }
        throw EventStoreError(
            .readOnly, streamID: streamID,
            message: "\(what) is refused: the store on schema '\(configuration.schema)' was opened read-only")
    }
}

extension PostgresSchema {
    /// Checks, changing nothing, that `schema` holds a store at the version this code writes, for a store that only
    /// reads and so cannot create or migrate it.
    ///
    /// - Throws: `EventStoreError/Code/incompatibleSchema` when the schema is missing, holds no `schema_version`
    ///   table, or is at another version; a mapped PostgreSQL error otherwise (such as `readOnly` for a role that
    ///   may not read the table).
    static func checkReadable(_ connection: PostgresConnection, schema: String, logger: Logger) async throws {
        let hasVersionTable =
            try await connection.rows(
                "SELECT count(*)::bigint FROM pg_tables WHERE schemaname = \(schema) AND tablename = 'schema_version'",
                decoding: Int64.self, logger: logger
            ).first ?? 0
        guard hasVersionTable == 1 else {
            throw EventStoreError(
                .incompatibleSchema,
                message: "schema '\(schema)' holds no Whizbang store; a read-only store creates nothing")
        }
        let version =
            try await connection.rows(
                PostgresQuery(unsafeSQL: "SELECT coalesce(max(version), 0) FROM \"\(schema)\".schema_version"),
                decoding: Int32.self, logger: logger
            ).first ?? 0
        guard version == currentVersion else {
            let reason =
                version > currentVersion
                ? "this code understands up to \(currentVersion)"
                : "this code reads version \(currentVersion); a store that may write migrates it"
            throw EventStoreError(
                .incompatibleSchema,
                message: "schema '\(schema)' has schema version \(version); \(reason)")
        }
    }
}
