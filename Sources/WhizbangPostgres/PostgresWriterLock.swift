import Logging
import PostgresNIO
import Synchronization

/// The schema's writer lock (``PostgresEventStore/Configuration/holdsWriterLock``): an advisory lock of the class
/// `PostgresSchema.writerLockClass`, held exclusively by a store's listening connection for as long as its session
/// lasts.
enum PostgresWriterLock {
    /// A server session: its backend's process id and start time (in microseconds since 1970), which together name
    /// one session (a process id alone is used again).
    struct Session: Sendable, Equatable {
        var pid: Int32
        var startMicroseconds: Int64
    }

    /// The sessions a store opened to take the lock, recorded before each try: any of them may hold it still, on a
    /// connection the store has given up on. The last 16 are kept.
    final class OwnSessions: Sendable {
        private let sessions = Mutex<[Session]>([])

        func record(_ session: Session) {
            sessions.withLock { sessions in
                sessions.append(session)
                if sessions.count > 16 { sessions.removeFirst(sessions.count - 16) }
            }
        }

        var all: [Session] { sessions.withLock { $0 } }
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
    /// ended its session.
    ///
    /// The connection's session is recorded in `own` before it tries. When one of the store's earlier sessions still
    /// holds the lock — a connection the listener gave up on as silent, whose backend has not seen it close — it is
    /// ended (`pg_terminate_backend`, for that process id and start time only), and the lock tried again until
    /// `Configuration.requestTimeout`, while that backend exits.
    ///
    /// - Throws: ``Held`` when another store holds it.
    static func take(
        on connection: PostgresConnection, configuration: PostgresEventStore.Configuration, own: OwnSessions
    ) async throws {
        let logger = configuration.logger
        let schema = configuration.schema
        try await StatementLimit.withLimit(
            configuration.requestTimeout, server: configuration.serverDescription, on: connection
        ) {
            let identity = try await connection.rows(
                """
                SELECT pg_backend_pid(), (extract(epoch FROM backend_start) * 1000000)::bigint
                FROM pg_stat_activity WHERE pid = pg_backend_pid()
                """, decoding: (Int32, Int64).self, logger: logger)
            guard let (pid, start) = identity.first else {
                throw EventStoreError(.storageFailure, message: "the server did not show this session's own process")
            }
            let earlier = own.all
            own.record(Session(pid: pid, startMicroseconds: start))
            let wait = min(configuration.requestTimeout, .seconds(2))
            var taken = try await tryLock(schema, until: .now + wait, on: connection, logger: logger)
            if !taken, let ended = try await endHolder(among: earlier, on: connection, schema: schema, logger: logger) {
                logger.info(
                    "ended this store's earlier session, which held the writer lock on a connection since lost",
                    metadata: ["schema": "\(schema)", "pid": "\(ended)"])
                taken = try await tryLock(
                    schema, until: .now + configuration.requestTimeout, on: connection, logger: logger)
            }
            guard taken else { throw Held(schema: schema) }
        }
    }

    private static func tryLock(
        _ schema: String, until deadline: ContinuousClock.Instant, on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        try await PostgresSchema.tryUseLock(
            "pg_try_advisory_lock", schema: schema, until: deadline, on: connection,
            lockClass: PostgresSchema.writerLockClass, logger: logger)
    }

    /// Ends the session that holds the writer lock of `schema` if it is one of `sessions`; its process id, or `nil`
    /// when the holder is none of them (or nobody).
    private static func endHolder(
        among sessions: [Session], on connection: PostgresConnection, schema: String, logger: Logger
    ) async throws -> Int32? {
        guard !sessions.isEmpty else { return nil }
        // PostgreSQL shows a lock of two 4-byte keys as classid, objid, objsubid 2.
        let ended = try await connection.rows(
            """
            SELECT l.pid, pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND l.classid = \(Int64(PostgresSchema.writerLockClass))::oid
                AND l.objid = (hashtext(\(schema))::bigint & 4294967295)::oid
                AND (l.pid, (extract(epoch FROM a.backend_start) * 1000000)::bigint) IN (
                    SELECT * FROM unnest(
                        \(sessions.map(\.pid))::integer[], \(sessions.map(\.startMicroseconds))::bigint[]))
            """, decoding: (Int32, Bool).self, logger: logger)
        return ended.first { $0.1 }?.0
    }
}
