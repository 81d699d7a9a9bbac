public import Logging
public import PostgresNIO
import Synchronization
public import Whizbang

/// A transaction of a ``PostgresEventStore`` that other statements share with appends, so that a caller can make a
/// write depend on a check of its own: the check, the appends and the caller's bookkeeping commit together or not
/// at all.
///
/// Get one from ``PostgresEventStore/withTransaction(_:)``. Its ``connection`` searches the store's schema first;
/// statements the caller runs on it take part in the transaction. Use it only inside the closure that received it.
public struct PostgresStoreTransaction: Sendable {
    /// The connection of the transaction; statements run on it belong to the transaction.
    public let connection: PostgresConnection
    /// The store's logger, to pass to the connection's calls.
    public let logger: Logger

    let store: PostgresEventStore
    let head: HeadTracker

    /// Appends to several streams in this transaction, each with its own expected version; one call of the store's
    /// append function, in order.
    ///
    /// Each append is decided on its own, as in a group commit: one with a wrong expected version or a duplicate
    /// event id fails alone, and its result says why; the others are written. Nothing is visible to readers until
    /// the transaction commits, and nothing is written if it rolls back.
    ///
    /// - Returns: one result per append, in the order given.
    /// Inline read models (``PostgresEventStore/Configuration/readModels``) fold the appended events in this
    /// transaction; when one refuses them this method throws `EventStoreError/Code/inlineProjectionFailed` and the
    /// transaction must be rolled back (let the error leave the closure).
    ///
    /// - Throws: `EventStoreError/Code/payloadTooLarge`, sending nothing, when the appends hold more than
    ///   ``PostgresEventStore/maximumAppendBytes`` of data and metadata together; the connection's error when the
    ///   statement fails as a whole (the transaction is then lost); ``PostgresEventStore/withTransaction(_:)``
    ///   reports it as an `EventStoreError`.
    public func append(_ appends: [PostgresStoreAppend]) async throws -> [Result<AppendResult, EventStoreError>] {
        var results: [Result<AppendResult, EventStoreError>?] = Array(repeating: nil, count: appends.count)
        var sent: [Int] = []
        var bytes = 0
        for (index, append) in appends.enumerated() {
            do {
                bytes += try store.validate(append.events, streamID: append.streamID)
                sent.append(index)
            } catch {
                results[index] = .failure(error)
            }
        }
        // The appends go to the server in one statement.
        try PostgresEventStore.validateAppendBytes(bytes, streamID: nil)
        if !sent.isEmpty {
            let sentAppends = sent.map { appends[$0] }
            let statement = PostgresStatements.AppendBatch(sentAppends, tables: store.tables.current)
            let rows = try await store.tables.fenced { try await connection.rows(of: statement, logger: logger) }
            for (index, outcome) in zip(sent, try await applied(sentAppends, rows: rows)) { results[index] = outcome }
        }
        return results.map { $0! }
    }

    /// Appends through a function of the caller's in this transaction; see
    /// ``PostgresEventStore/append(_:through:)``, which validates the appends first and runs the same statement in
    /// a transaction of its own.
    ///
    /// - Throws: as ``append(_:)`` does, and `storageFailure` when the function returns rows that do not fit.
    public func append(_ appends: [PostgresStoreAppend], through call: PostgresAppendCall) async throws
        -> PostgresAppendCall.Outcome
    {
        var bytes = 0
        for append in appends { bytes += try store.validate(append.events, streamID: append.streamID) }
        try PostgresEventStore.validateAppendBytes(bytes, streamID: nil)
        guard
            let rows = try await Self.rows(
                of: appends, through: call, on: connection, tables: store.tables, logger: logger, committing: false)
        else {
            return .refused
        }
        return .appended(try await applied(appends, rows: rows))
    }

    /// Runs a ``PostgresAppendCall`` statement without inline read models, for
    /// ``PostgresEventStore/append(_:through:)``: with `committing`, the call's ``PostgresAppendCall/procedure``,
    /// which commits, outside a transaction block; otherwise its function, in the caller's transaction.
    static func run(
        _ appends: [PostgresStoreAppend], through call: PostgresAppendCall, on connection: PostgresConnection,
        tables: StoreTables, logger: Logger, head: HeadTracker, committing: Bool = false
    ) async throws -> PostgresAppendCall.Outcome {
        guard
            let rows = try await rows(
                of: appends, through: call, on: connection, tables: tables, logger: logger, committing: committing)
        else {
            return .refused
        }
        try PostgresStatements.AppendBatch.check(rows, eventCounts: appends.map(\.events.count))
        return .appended(zip(appends, rows).map { outcome(of: $0, row: $1, head: head) })
    }

    /// The rows of a ``PostgresAppendCall`` statement, or `nil` when the function refused. A fenced call also passes
    /// the object id of the store's tables, and its fence's refusal is thrown as ``StoreTables/fenced(_:)`` throws it.
    private static func rows(
        of appends: [PostgresStoreAppend], through call: PostgresAppendCall, on connection: PostgresConnection,
        tables: StoreTables, logger: Logger, committing: Bool
    ) async throws -> [PostgresStatements.AppendBatch.Row]? {
        let statement = PostgresStatements.AppendBatch(appends)
        var bindings = call.arguments
        var leading = (0..<bindings.count).map { "$\($0 + 1)" }
        if call.fenced {
            bindings.append(tables.current)
            leading.append("$\(bindings.count)::bigint::oid")
        }
        let first = bindings.count + 1
        statement.bind(into: &bindings)
        let arrays = PostgresStatements.AppendBatch.parameterTypes.enumerated().map { "$\(first + $0)::\($1)" }
        let argumentList = (leading + arrays).joined(separator: ", ")
        guard call.fenced else {
            return try await rows(call, arguments: argumentList, bindings: bindings, on: connection, logger: logger,
                committing: committing)
        }
        return try await tables.fenced {
            try await rows(call, arguments: argumentList, bindings: bindings, on: connection, logger: logger,
                committing: committing)
        }
    }

    private static func rows(
        _ call: PostgresAppendCall, arguments argumentList: String, bindings: PostgresBindings,
        on connection: PostgresConnection, logger: Logger, committing: Bool
    ) async throws -> [PostgresStatements.AppendBatch.Row]? {
        let rows: [PostgresStatements.AppendBatch.Row]
        if committing, let procedure = call.procedure {
            let query = PostgresQuery(unsafeSQL: "CALL \(procedure)(\(argumentList))", binds: bindings)
            rows = try PostgresStatements.CommittedAppendBatch.rows(
                from: try await connection.rows(query, logger: logger), procedure: procedure)
        } else {
            let query = PostgresQuery(
                unsafeSQL: "SELECT status, stream_version, first_position, inserted "
                    + "FROM \(call.function)(\(argumentList))",
                binds: bindings)
            var decoded: [PostgresStatements.AppendBatch.Row] = []
            for (status, version, position, inserted) in try await connection.rows(
                query, decoding: (Int32, Int64, Int64, Bool).self, logger: logger)
            {
                decoded.append(
                    .init(rawStatus: status, streamVersion: version, firstPosition: position, inserted: inserted))
            }
            rows = decoded
        }
        if rows.contains(where: { $0.rawStatus == PostgresAppendCall.refusedStatus }) {
            guard rows.count == 1 else {
                throw EventStoreError(
                    .storageFailure, message: "\(call.function) returned a refusal among \(rows.count) rows")
            }
            return nil
        }
        return rows
    }

    /// Folds what the appends inserted into the inline read models, in this transaction, and maps the rows to
    /// results, noting the head for waking the store's waiters after the commit.
    private func applied(_ appends: [PostgresStoreAppend], rows: [PostgresStatements.AppendBatch.Row]) async throws
        -> [Result<AppendResult, EventStoreError>]
    {
        try PostgresStatements.AppendBatch.check(rows, eventCounts: appends.map(\.events.count))
        do {
            try await store.readModels.applyInline(on: connection) { now in
                zip(appends, rows).map { append, row in
                    PostgresWriter.recordedEvents(append.events, streamID: append.streamID, row: row, recordedAt: now)
                }
            }
        } catch let refusal as PostgresReadModels.Refusal {
            let message = refusal.failures.sorted { $0.key < $1.key }.map(\.value).joined(separator: "; ")
            throw EventStoreError(
                .inlineProjectionFailed, streamID: refusal.failures.keys.min().map { appends[$0].streamID },
                message: "an inline read model refused an append of the transaction: \(message)")
        }
        return zip(appends, rows).map { Self.outcome(of: $0, row: $1, head: head) }
    }

    private static func outcome(
        of append: PostgresStoreAppend, row: PostgresStatements.AppendBatch.Row, head: HeadTracker
    ) -> Result<AppendResult, EventStoreError> {
        let streamID = append.streamID
        switch row.status {
        case .committed:
            let first = UInt64(row.firstPosition)
            if !append.events.isEmpty { head.advance(to: first + UInt64(append.events.count) - 1) }
            return .success(
                AppendResult(
                    streamID: streamID, streamVersion: UInt64(row.streamVersion),
                    positions: first..<(first + UInt64(append.events.count))))
        case .wrongExpectedVersion:
            return .failure(
                .wrongExpectedVersion(streamID, expected: append.expectedVersion, actual: UInt64(row.streamVersion)))
        case .duplicateEventID:
            return .failure(
                EventStoreError(
                    .duplicateEventID, streamID: streamID,
                    message: "an event id of this append to '\(streamID)' is already stored at another place"))
        case nil:
            return .failure(
                EventStoreError(.storageFailure, message: "the append function returned status \(row.rawStatus)"))
        }
    }
}

/// One append of ``PostgresStoreTransaction/append(_:)``: events for a stream and the version it must be at.
public struct PostgresStoreAppend: Sendable {
    /// The events, in order.
    public var events: [EventData]
    /// The stream they go to.
    public var streamID: StreamID
    /// The condition on the stream's version, checked in the transaction.
    public var expectedVersion: ExpectedVersion

    /// Creates an append.
    public init(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion) {
        self.events = events
        self.streamID = streamID
        self.expectedVersion = expectedVersion
    }
}

/// The highest position a transaction appended, for waking the store's waiters once it has committed.
final class HeadTracker: Sendable {
    private let position = Mutex<UInt64>(0)

    func advance(to head: UInt64) { position.withLock { $0 = max($0, head) } }
    var value: UInt64 { position.withLock { $0 } }
}

extension PostgresEventStore {
    /// Runs `body` in one transaction on a pooled connection: the caller's statements and the appends made through
    /// ``PostgresStoreTransaction/append(_:)`` commit together when `body` returns, and roll back together when it
    /// throws or the connection fails.
    ///
    /// `body` must not end the transaction itself (`COMMIT`, `ROLLBACK`, `BEGIN` again): the store ends it, and
    /// cannot tell what a body that did so left committed.
    ///
    /// This is how a write is made conditional on something the `EventStore` protocol cannot express, such as a
    /// fencing token: read and lock the token's row first, then append. Appends made this way are numbered in the
    /// same global order as every other append of the store (they take the same lock), wake the store's waiters and
    /// other processes' subscribers when the transaction commits, and are bounded as every call is: leasing the
    /// connection by ``Configuration/connectTimeout``, the whole transaction by ``Configuration/requestTimeout``
    /// (a transaction that misses it fails with `EventStoreError/Code/unavailable`, its connection is closed and
    /// the server rolls it back).
    ///
    /// The session that `body` changes (a `SET search_path`, say, which outlives the transaction, a `SET ROLE`, a
    /// session advisory lock) is reset once the transaction has ended, with one more round trip (what `DISCARD ALL`
    /// does, except that statements PostgresNIO prepared for the caller stay, so that it can run them again):
    /// the connection goes back to the pool as it started, so that the store's own statements on it never follow
    /// `body`'s, and nothing `body` took stays held. A connection that cannot be reset is closed instead.
    ///
    /// - Throws: what `body` throws, unchanged (the transaction is rolled back), except the connection's own errors
    ///   (PostgresNIO's, and NIO's for a connection that ended), which are mapped as the store's are; otherwise an
    ///   `EventStoreError` —
    ///   `readOnly`, `closed`, `unavailable` (retryable; after a failed commit the transaction may have committed),
    ///   `storageFailure` when a statement of the transaction failed, so that PostgreSQL rolled it back at its commit
    ///   (a body that caught the statement's error and returned: nothing of the transaction is written), or the
    ///   server's error mapped as for the store's other calls.
    public func withTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresStoreTransaction) async throws -> Result
    ) async throws -> Result {
        try await withTransaction(restoringSession: true, body)
    }

    /// ``withTransaction(_:)`` without resetting the session afterwards, and so without its extra round trip: for
    /// the framework's own bodies, which change no session setting (`SET LOCAL` ends with the transaction).
    package func withTrustedTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresStoreTransaction) async throws -> Result
    ) async throws -> Result {
        try await withTransaction(restoringSession: false, body)
    }

    /// - Parameters:
    ///   - restoringSession: whether to reset the session after `body` (a caller's body may change its settings).
    ///   - believingHead: whether the positions the transaction's appends returned are believed as they are, to wake
    ///     waiters at once; else they are confirmed first (``advanceHead(to:confirming:)``). Default: only when the
    ///     session is not restored (the framework's own bodies).
    func withTransaction<Result: Sendable>(
        restoringSession: Bool,
        believingHead: Bool? = nil,
        _ body: @escaping @Sendable (PostgresStoreTransaction) async throws -> Result
    ) async throws -> Result {
        try refuseWriteIfReadOnly("a transaction")
        try await waitUntilReady()
        try lifecycle.beginOperation()
        defer {
            lifecycle.endOperation()
            // An append of the transaction that found the store's tables gone closes the store, once it has failed.
            tables.closeIfReplaced()
        }
        let logger = configuration.logger
        let head = HeadTracker()
        let bodyError = Mutex<(any Error)?>(nil)
        do {
            let result = try await runner.withConnection { connection in
                let transaction = PostgresStoreTransaction(connection: connection, logger: logger, store: self, head: head)
                let result: Result
                do {
                    result = try await connection.withStoreTransaction(logger: logger) {
                        do {
                            return try await body(transaction)
                        } catch {
                            if !Self.isConnectionError(error) { bodyError.withLock { $0 = error } }
                            throw error
                        }
                    }
                } catch {
                    if restoringSession { await Self.restore(connection, rollingBack: false, logger: logger) }
                    throw error
                }
                if restoringSession { await Self.restore(connection, rollingBack: false, logger: logger) }
                return result
            }
            advanceHead(to: head.value, confirming: !(believingHead ?? !restoringSession))
            return result
        } catch {
            if let error = bodyError.withLock({ $0 }) { throw error }
            if Task.isCancelled && !lifecycle.isClosed { throw CancellationError() }
            throw runner.failure(error, closed: lifecycle.isClosed)
        }
    }

    /// Wakes waiters for what a committed transaction appended. A caller's body holds the connection and may have
    /// rolled some of its appends back (`ROLLBACK TO SAVEPOINT`), so its highest position is taken as a notification
    /// is (``NotifiedHead``), not believed: the listener confirms it by reading the head when the commit's own
    /// notification arrives, or the next waiter does. Believed, a position past the log would make every caught-up
    /// consumer's wait return at once, to read nothing, in a loop. The framework's own bodies are believed.
    private func advanceHead(to position: UInt64, confirming: Bool) {
        guard position > signal.head else { return }
        guard confirming else { return signal.advance(to: position) }
        _ = notifiedHead.notified(position)
    }

    /// Runs `body` on a pooled connection without a transaction of its own (each statement commits by itself), within
    /// the store's deadlines: leasing the connection by ``Configuration/connectTimeout``, `body` by
    /// ``Configuration/requestTimeout``. The connection searches the store's schema first.
    ///
    /// On a store configured ``Configuration/isReadOnly`` the connection runs read-only transactions, so `body` can
    /// read but not write.
    ///
    /// What `body` leaves on the connection does not outlive the call: afterwards a transaction it left open is
    /// rolled back and the session is reset to how the connection started (`ROLLBACK` and what `DISCARD ALL` does,
    /// two more round trips): its settings and role, so that a `SET search_path` or `SET ROLE` of `body`'s cannot
    /// send the store's own statements into other tables or run them as another user; its session advisory locks,
    /// listens, held cursors, statements prepared with SQL's `PREPARE` and temporary tables. Statements PostgresNIO
    /// prepared for a `PostgresPreparedStatement` stay, so that later bodies on the connection can run them again.
    /// A connection that cannot be reset so is closed instead of going back to the pool. (While `body` runs,
    /// temporary tables do not hide the store's: its connections search `pg_temp` last.)
    ///
    /// - Throws: what `body` throws, unchanged, except the connection's own errors (PostgresNIO's, and NIO's for a
    ///   connection that ended), which are mapped as the store's are; otherwise an `EventStoreError` — `closed`,
    ///   `unavailable` (retryable), `readOnly`, or the server's error mapped as for the store's other calls.
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        try await withConnection(restoringSession: true, body)
    }

    /// ``withConnection(_:)`` without restoring the session afterwards, and so without its two extra round trips:
    /// for the framework's own bodies, which leave no transaction open and change no session setting.
    package func withTrustedConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        try await withConnection(restoringSession: false, body)
    }

    private func withConnection<Result: Sendable>(
        restoringSession: Bool,
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        try await waitUntilReady()
        try lifecycle.beginOperation()
        defer { lifecycle.endOperation() }
        let logger = configuration.logger
        let bodyError = Mutex<(any Error)?>(nil)
        do {
            return try await runner.withConnection { connection in
                let result: Result
                do {
                    result = try await body(connection, logger)
                } catch {
                    if !Self.isConnectionError(error) { bodyError.withLock { $0 = error } }
                    if let ended = error as? PSQLError, ended.endsSession {
                        // Nothing to restore: the server ended the session.
                        await connection.closeAndWait()
                    } else if restoringSession {
                        await Self.restore(connection, rollingBack: true, logger: logger)
                    }
                    throw error
                }
                if restoringSession { await Self.restore(connection, rollingBack: true, logger: logger) }
                return result
            }
        } catch {
            if let error = bodyError.withLock({ $0 }) { throw error }
            if Task.isCancelled && !lifecycle.isClosed { throw CancellationError() }
            throw runner.failure(error, closed: lifecycle.isClosed)
        }
    }

    /// Whether a body's error came from its connection (the server's answer, or NIO's for a connection that ended),
    /// and is so mapped as the store's own calls' errors are, rather than passed on as the body's.
    static func isConnectionError(_ error: any Error) -> Bool {
        error is PSQLError || error is ChannelError || error is IOError
    }

    /// Brings a pooled connection back to the session it started with after a caller's body: rolls back a
    /// transaction the body left open when `rollingBack` (outside one, PostgreSQL only warns), then resets the
    /// session with ``sessionReset``. Closes the connection when that fails, so that the pool replaces it, and
    /// returns once the pool can know that it is closed.
    private static func restore(_ connection: PostgresConnection, rollingBack: Bool, logger: Logger) async {
        do {
            if rollingBack { try await connection.run("ROLLBACK", logger: logger) }
            try await connection.run(sessionReset, logger: logger)
        } catch {
            await connection.closeAndWait()
        }
    }

    /// What `DISCARD ALL` does, in one statement, except for the statements prepared through the protocol: every
    /// setting back to the value the connection started with (the store's `search_path`, durability and timeouts),
    /// the role, held cursors, statements prepared with SQL's `PREPARE`, listens, session advisory locks, cached
    /// plans, temporary tables and sequence state.
    ///
    /// `DISCARD ALL` also deallocates the statements PostgresNIO prepared for a `PostgresPreparedStatement` of the
    /// caller's, which it prepares once on a connection and afterwards only runs there: the next body to run one on
    /// the connection failed (`prepared statement ... does not exist`). Those stay, under the names PostgresNIO
    /// keeps for them; the store prepares none (its statements run unnamed). Every name is qualified, so that the
    /// body's `search_path` cannot redirect the reset.
    static let sessionReset: PostgresQuery = """
        DO $reset$
        DECLARE
            item record;
        BEGIN
            FOR item IN SELECT name FROM pg_catalog.pg_cursors WHERE is_holdable LOOP
                EXECUTE pg_catalog.format('CLOSE %I', item.name);
            END LOOP;
            FOR item IN SELECT name FROM pg_catalog.pg_prepared_statements WHERE from_sql LOOP
                EXECUTE pg_catalog.format('DEALLOCATE %I', item.name);
            END LOOP;
            SET SESSION AUTHORIZATION DEFAULT;
            RESET ALL;
            UNLISTEN *;
            PERFORM pg_catalog.pg_advisory_unlock_all();
            DISCARD PLANS;
            DISCARD TEMP;
            DISCARD SEQUENCES;
        END
        $reset$
        """

    /// Listens on a notification channel of the store's database and calls `onNotification` with each payload,
    /// until the calling task is cancelled or the store closes; after a lost connection it listens again (after
    /// ``Configuration/listenerReconnectDelay``) and then calls `onNotification` with `nil`, since notifications sent
    /// meanwhile are lost: the caller rereads what it watches.
    ///
    /// Notifications only wake; they are folded, may be lost with a connection, and are never replayed. The
    /// listener holds a connection of its own, outside the pool, while it runs.
    public func listen(on channel: String, _ onNotification: @escaping @Sendable (String?) -> Void) async {
        do {
            try await waitUntilReady()
        } catch {
            return
        }
        let logger = configuration.logger
        let listenerIDs = Atomic<Int>(1_000_000)
        while !Task.isCancelled && !lifecycle.isClosed {
            do {
                // A connection of its own, not the pool's: closing it to end the wait cannot hand a closed
                // connection to another request.
                let connection = try await PostgresConnection.connect(
                    configuration: configuration.connectionConfiguration(),
                    id: listenerIDs.add(1, ordering: .relaxed).newValue, logger: logger)
                do {
                    // Ended by the caller's cancellation and by the store's end: either closes the connection.
                    let close: @Sendable () -> Void = { let _: EventLoopFuture<Void> = connection.close() }
                    try await withTaskCancellationHandler {
                        try await lifecycle.untilFinished(onFinish: close) {
                            try await connection.listen(on: channel) { notifications in
                                onNotification(nil)
                                for try await notification in notifications { onNotification(notification.payload) }
                            }
                        }
                    } onCancel: {
                        close()
                    }
                    try? await connection.close()
                } catch {
                    try? await connection.close()
                    throw error
                }
            } catch {
                logger.debug("listener on \(channel) lost its connection", metadata: ["error": "\(error)"])
            }
            if Task.isCancelled || lifecycle.isClosed { return }
            try? await Task.sleep(for: configuration.listenerReconnectDelay)
        }
    }
}
