import Foundation
import Logging
import PostgresNIO

/// The schema's writer lock (``PostgresEventStore/Configuration/holdsWriterLock``): an advisory lock of the class
/// `PostgresSchema.writerLockClass`, held exclusively by a store's listening connection for as long as its session
/// lasts.
enum PostgresWriterLock {
    /// The server session that holds the lock: its backend's process id and start time, which together name one
    /// session (a process id alone is used again).
    struct Session: Sendable, Equatable {
        var pid: Int32
        var start: Date
    }

    /// Another store holds the lock.
    struct Held: Error {
        let schema: String

        var message: String {
            "another store holds the writer lock of schema '\(schema)' (a store with holdsWriterLock runs on it, in "
                + "this process or another)"
        }
    }

    /// Takes the lock on `connection`, trying every 50 milliseconds for at most 2 seconds (or
    /// `Configuration.requestTimeout`, when shorter): a store that closed just before holds it until the server has
    /// ended its session. Returns the session that holds it now.
    ///
    /// When `previous` (the session this store held it on before) still holds it — a connection the listener gave
    /// up on as silent, whose backend has not yet seen it close — that session is this store's own: it is ended
    /// (`pg_terminate_backend`, for that process id and start time only) and the lock tried again.
    ///
    /// - Throws: ``Held`` when another store holds it.
    static func take(
        on connection: PostgresConnection, configuration: PostgresEventStore.Configuration, previous: Session?
    ) async throws -> Session {
        let logger = configuration.logger
        let wait = min(configuration.requestTimeout, .seconds(2))
        return try await StatementLimit.withLimit(
            configuration.requestTimeout, server: configuration.serverDescription, on: connection
        ) {
            var taken = try await PostgresSchema.tryUseLock(
                "pg_try_advisory_lock", schema: configuration.schema, until: .now + wait, on: connection,
                lockClass: PostgresSchema.writerLockClass, logger: logger)
            if !taken, let previous,
                try await end(previous, on: connection, schema: configuration.schema, logger: logger)
            {
                logger.info(
                    "ended this store's earlier session, which held the writer lock on a connection since lost",
                    metadata: ["schema": "\(configuration.schema)", "pid": "\(previous.pid)"])
                taken = try await PostgresSchema.tryUseLock(
                    "pg_try_advisory_lock", schema: configuration.schema, until: .now + wait, on: connection,
                    lockClass: PostgresSchema.writerLockClass, logger: logger)
            }
            guard taken else { throw Held(schema: configuration.schema) }
            let sessions = try await connection.rows(
                "SELECT pg_backend_pid(), backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()",
                decoding: (Int32, Date).self, logger: logger)
            guard let (pid, start) = sessions.first else {
                throw EventStoreError(.storageFailure, message: "the server did not show this session's own process")
            }
            return Session(pid: pid, start: start)
        }
    }

    /// Ends `session` if it still holds the writer lock of `schema`; whether it did.
    private static func end(
        _ session: Session, on connection: PostgresConnection, schema: String, logger: Logger
    ) async throws -> Bool {
        // PostgreSQL shows a lock of two 4-byte keys as classid, objid, objsubid 2.
        let ended = try await connection.rows(
            """
            SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND l.classid = \(Int64(PostgresSchema.writerLockClass))::oid
                AND l.objid = (hashtext(\(schema))::bigint & 4294967295)::oid
                AND l.pid = \(session.pid) AND a.backend_start = \(session.start)
            """, decoding: Bool.self, logger: logger)
        return ended.contains(true)
    }
}
