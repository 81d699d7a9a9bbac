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
        // The proof a starting store asks for (which throws for tables that are not a store's).
        guard let version = try await storeVersion(connection, schema: schema, logger: logger) else {
            throw EventStoreError(
                .incompatibleSchema,
                message: "schema '\(schema)' holds no Whizbang store; a read-only store creates nothing")
        }
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
