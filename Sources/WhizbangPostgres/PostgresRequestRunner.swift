import Logging
import PostgresNIO
import Synchronization
import Whizbang

/// Runs each request of a store on a pooled connection within the store's deadlines, turns what fails into an
/// `EventStoreError`, and logs outages: one warning when the server becomes unavailable, one info line when it
/// answers again.
///
/// Leasing a connection (which may mean connecting and authenticating) must succeed within `connectTimeout`, and the
/// request's statements must then finish within `requestTimeout`. A request that misses either fails with
/// `EventStoreError/Code/unavailable` at once; a connection it held is closed, so the pool discards it and opens a
/// new one for the next request. So is a connection on which a statement may have failed to prepare (see
/// ``mayHaveFailedPreparation(_:)``). One timer, ``deadlines``, watches every request in flight: run it with
/// `deadlines.run()` for as long as the store runs.
final class PostgresRequestRunner: Sendable {
    let client: PostgresClient
    let connectTimeout: Duration
    let requestTimeout: Duration
    /// `host:port`, or the socket directory, for messages.
    let server: String
    let logger: Logger
    /// The timer of every request's deadlines.
    let deadlines: RequestDeadlines

    /// Whether the store is in an outage, read without the lock on the path of every successful request.
    private let inOutage = Atomic(false)
    /// When the current outage began, and how many requests failed in it.
    private let outage = Mutex<(began: ContinuousClock.Instant, failures: Int)?>(nil)

    init(client: PostgresClient, configuration: PostgresEventStore.Configuration) {
        self.client = client
        self.connectTimeout = configuration.connectTimeout
        self.requestTimeout = configuration.requestTimeout
        self.server = configuration.serverDescription
        self.logger = configuration.logger
        self.deadlines = RequestDeadlines(
            tick: RequestDeadlines.tick(
                forShortestLimit: min(configuration.connectTimeout, configuration.requestTimeout)))
    }

    /// Runs `body` on a pooled connection: the lease takes at most ``connectTimeout``, `body` at most
    /// ``requestTimeout``.
    ///
    /// - Throws: what `body` or the pool throws, ``RequestDeadlines/Exceeded`` or ``RequestDeadlines/Stopped``; pass
    ///   it to ``failure(_:closed:)``.
    func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let client = self.client
        let result = try await deadlines.run(leaseLimit: connectTimeout, workLimit: requestTimeout) { request in
            try await client.withConnection { connection in
                request.hold {
                    let _: EventLoopFuture<Void> = connection.close()
                }
                defer { request.release() }
                do {
                    return try await body(connection)
                } catch let error as PSQLError where Self.mayHaveFailedPreparation(error) {
                    // Closed before it goes back, the connection leaves the pool for a new one; lent again before
                    // the pool knew, it would take the next request's statement and never answer it.
                    await connection.closeAndWait()
                    throw error
                }
            }
        }
        if inOutage.load(ordering: .relaxed) { recovered() }
        return result
    }

    /// Whether `error` may have come from preparing a statement, after which the connection is not to be used again.
    ///
    /// PostgresNIO keeps a statement whose preparation failed (a statement timeout behind a lock, a cancelled query, a
    /// table that was missing) as failed on its connection, and answers each later use of that statement with the
    /// same error without asking the server. Errors that only running a statement raises are not such errors, and
    /// leave the connection in the pool: data exceptions (SQLSTATE class 22), constraint violations (23), a function's
    /// `RAISE` (P0) and serialization failures and deadlocks (40), which callers' own SQL meets in normal work, and
    /// the store's fence (WB, `PostgresSchema.replacedTablesState`).
    static func mayHaveFailedPreparation(_ error: PSQLError) -> Bool {
        guard let sqlState = error.serverInfo?[.sqlState] else { return true }
        return !["22", "23", "P0", "40", "WB"].contains(String(sqlState.prefix(2)))
    }

    /// Runs a statement on a pooled connection within the deadline and collects its rows.
    func rows<Statement: PostgresPreparedStatement>(
        of statement: Statement
    ) async throws -> [Statement.Row] where Statement.Row: Sendable {
        let logger = self.logger
        return try await withConnection { connection in
            try await connection.rows(of: statement, logger: logger)
        }
    }

    /// The event store error for what a request threw; `closed` when the store was closed meanwhile. An
    /// `EventStoreError/Code/unavailable` one starts an outage, logged once, unless the server rolled the
    /// transaction back as a deadlock's victim or for a serialization failure (SQLSTATE class 40): a server that
    /// answers is not out, and a busy `SERIALIZABLE` workload would log one outage after another.
    func failure(_ error: any Error, closed: Bool) -> EventStoreError {
        let failure = EventStoreError.from(error, closed: closed, server: server)
        let rolledBack = (failure.underlyingError as? PostgresServerError)?.sqlState.hasPrefix("40") ?? false
        if failure.code == .unavailable, !rolledBack { failed(failure) }
        return failure
    }

    private func failed(_ failure: EventStoreError) {
        let first = outage.withLock { outage -> Bool in
            if var current = outage {
                current.failures += 1
                outage = current
                return false
            }
            outage = (ContinuousClock.now, 1)
            inOutage.store(true, ordering: .relaxed)
            return true
        }
        if first {
            logger.warning(
                "PostgreSQL is unavailable; calls fail with `unavailable` until it answers again",
                metadata: ["server": "\(server)", "error": "\(failure.message)"])
        }
    }

    /// When the store's current outage began (its first request that failed with `unavailable`, the listener's
    /// included), or `nil` outside one.
    var outageBegan: ContinuousClock.Instant? { outage.withLock { $0?.began } }

    private func recovered() {
        let ended = outage.withLock { outage -> (began: ContinuousClock.Instant, failures: Int)? in
            defer {
                outage = nil
                inOutage.store(false, ordering: .relaxed)
            }
            return outage
        }
        if let ended {
            logger.info(
                "PostgreSQL is available again",
                metadata: [
                    "server": "\(server)", "outage": "\(ContinuousClock.now - ended.began)",
                    "failedCalls": "\(ended.failures)",
                ])
        }
    }
}
