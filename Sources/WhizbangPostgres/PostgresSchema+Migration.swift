import Foundation
import Logging
import PostgresNIO
import Whizbang

extension PostgresSchema {
    /// Creates the schema and its tables, or brings an older version up to date, in one transaction.
    ///
    /// A transaction-level advisory lock lets one process at a time migrate a schema; the others then find it up to
    /// date. When this throws, the caller closes the connection, which rolls the transaction back.
    ///
    /// - Throws: `EventStoreError/Code/incompatibleSchema` when the schema was written by a newer version or holds
    ///   tables but no `schema_version`; a mapped PostgreSQL error otherwise.
    static func migrate(_ connection: PostgresConnection, schema: String, logger: Logger) async throws {
        try await transaction(on: connection, logger: logger) {
            // Collected: a lock timeout arrives with the row, after the query has returned.
            try await connection.run(
                "SELECT pg_advisory_xact_lock(\(lockClass + 1), hashtext(\(schema)))", logger: logger
            )
            try await migrateInTransaction(connection, schema: schema, logger: logger)
        }
    }

    /// Runs `body` in a transaction on a connection that the caller closes when this throws, which rolls the
    /// transaction back. Unlike postgres-nio's `withTransaction`, it sends no `ROLLBACK` after a failure: closing
    /// the store closes the connection to end a wait, and a query sent on a closed connection may never complete.
    static func transaction(
        on connection: PostgresConnection, logger: Logger, _ body: () async throws -> Void
    ) async throws {
        try await connection.run("BEGIN", logger: logger)
        try await body()
        try await connection.run("COMMIT", logger: logger)
    }

    /// The work of ``migrate(_:schema:logger:)`` inside a transaction the caller holds, with the migration lock.
    static func migrateInTransaction(_ connection: PostgresConnection, schema: String, logger: Logger) async throws {
        let quoted = "\"\(schema)\""
        let channel = "whizbang_\(schema)"
        try await connection.run(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(quoted)"), logger: logger)
        let tables = try await connection.rows(
            "SELECT count(*)::bigint FROM pg_tables WHERE schemaname = \(schema)", decoding: Int64.self, logger: logger
        ).first ?? 0
        let hasVersionTable = try await connection.rows(
            "SELECT count(*)::bigint FROM pg_tables WHERE schemaname = \(schema) AND tablename = 'schema_version'",
            decoding: Int64.self, logger: logger
        ).first ?? 0
        var version: Int32 = 0
        if tables == 0 {
            try await connection.run(
                PostgresQuery(
                    unsafeSQL: """
                        CREATE TABLE \(quoted).schema_version (
                            version integer PRIMARY KEY,
                            applied_at timestamptz NOT NULL DEFAULT now()
                        )
                        """),
                logger: logger)
        } else {
            guard hasVersionTable == 1 else {
                throw EventStoreError(
                    .incompatibleSchema,
                    message: "schema '\(schema)' holds tables but no schema_version: it is not a Whizbang store")
            }
            version = try await connection.rows(
                PostgresQuery(unsafeSQL: "SELECT coalesce(max(version), 0) FROM \(quoted).schema_version"),
                decoding: Int32.self, logger: logger
            ).first ?? 0
        }
        guard version <= currentVersion else {
            throw EventStoreError(
                .incompatibleSchema,
                message: "schema '\(schema)' has schema version \(version); this code understands up to "
                    + "\(currentVersion)")
        }
        for next in (version + 1)..<(currentVersion + 1) {
            for statement in migrations[Int(next) - 1] {
                let sql = statement.replacingOccurrences(of: "{schema}", with: quoted)
                    .replacingOccurrences(of: "{channel}", with: channel)
                    .replacingOccurrences(of: "{name}", with: schema)
                try await connection.run(PostgresQuery(unsafeSQL: sql), logger: logger)
            }
            try await connection.run(
                PostgresQuery(unsafeSQL: "INSERT INTO \(quoted).schema_version (version) VALUES (\(next))"),
                logger: logger)
            logger.debug("migrated schema", metadata: ["schema": "\(schema)", "version": "\(next)"])
        }
    }
}
