package import Logging
package import PostgresNIO
import Whizbang

/// Every statement the store and the cluster run, and every row they read, goes through these methods.
///
/// They collect a result's rows with PostgresNIO's `EventLoopFuture` API, never with its async row sequence: in
/// PostgresNIO 1.33 an async sequence that waits for its consumer's demand while the server closes the connection
/// (a crash, a killed backend) traps in `RowStreamStateMachine.channelReadComplete`; collecting on the event loop
/// asks for the next rows in the same tick, so the connection's end fails the call instead.
extension PostgresConnection {
    /// Runs `query` and returns all its rows.
    ///
    /// The rows are held in memory: give every query that can return many rows a limit.
    package func rows(
        _ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> [PostgresRow] {
        try await result(query, logger: logger, file: file, line: line).rows
    }

    /// Runs `query` and returns its rows and its command tag.
    private func result(
        _ query: PostgresQuery, logger: Logger, file: String, line: Int
    ) async throws -> PostgresQueryResult {
        // Started on the event loop, so that the collecting callback is attached before the first rows can arrive.
        let result = eventLoop.flatSubmit { () -> EventLoopFuture<PostgresQueryResult> in
            // PostgresNIO drops a statement written to a connection that has ended, with its handlers, and never
            // completes it: the caller waited for its deadline. On the event loop the connection cannot end between
            // this check and the write; one that ends after it fails the statement.
            guard !self.isClosed else { return self.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
            return self.query(query, logger: logger, file: file, line: line)
        }
        // Inside a `StatementLimit` for this connection, a statement that has not answered in time closes the
        // connection, which fails it: the server may never answer. The answer and the timer both run on the
        // connection's event loop, so a statement answered just before its limit is never closed under its caller.
        let limit = StatementLimit.current.flatMap { $0.connection == ObjectIdentifier(self) ? $0 : nil }
        let fired = limit.map { _ in StatementLimit.Flag() }
        let timer = limit.map { limit in
            let answered = StatementLimit.Flag()
            result.whenComplete { _ in answered.set() }
            let (seconds, attoseconds) = limit.limit.components
            return eventLoop.scheduleTask(in: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)) {
                guard !answered.isSet else { return }
                fired?.set()
                let _: EventLoopFuture<Void> = self.close()
            }
        }
        defer { timer?.cancel() }
        do {
            return try await result.get()
        } catch where fired?.isSet == true {
            await closeAndWait()
            throw limit?.exceeded ?? error
        } catch let error as PSQLError where error.endsSession {
            // The server ends the session after a FATAL error (a terminated backend, a shutdown), but the connection
            // may not be known closed yet: a statement written to it meanwhile would never complete. Closed now, the
            // next statement fails at once and no pool lends the connection again.
            await closeAndWait()
            throw error
        }
    }

    /// Closes the connection and returns once it is closed: a pool learns of a close only from the close future, a
    /// tick after `close()` returns on a connection that had already ended, and would lend it again in between.
    package func closeAndWait() async {
        try? await close()
        try? await closeFuture.get()
    }

    /// Runs `query` and decodes the single column of each row.
    package func rows<Column: PostgresDecodable>(
        _ query: PostgresQuery, decoding column: Column.Type, logger: Logger, file: String = #fileID,
        line: Int = #line
    ) async throws -> [Column] {
        try await rows(query, logger: logger, file: file, line: line).map { try $0.decode(Column.self) }
    }

    /// Runs `query` and decodes each row's columns.
    package func rows<each Column: PostgresDecodable>(
        _ query: PostgresQuery, decoding columns: (repeat each Column).Type, logger: Logger,
        file: String = #fileID, line: Int = #line
    ) async throws -> [(repeat each Column)] {
        try await rows(query, logger: logger, file: file, line: line).map { try $0.decode(columns) }
    }

    /// Runs `statement` and decodes its rows with the statement's own `decodeRow(_:)`.
    ///
    /// The statement runs unnamed, parsed and planned with each call: PostgresNIO 1.33 runs named prepared
    /// statements only through the async row sequence.
    package func rows<Statement: PostgresPreparedStatement>(
        of statement: Statement, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> [Statement.Row] {
        let query = PostgresQuery(unsafeSQL: Statement.sql, binds: try statement.makeBindings())
        return try await rows(query, logger: logger, file: file, line: line).map { try statement.decodeRow($0) }
    }

    /// Runs `query`, a statement whose rows, if any, are not needed.
    package func run(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws {
        _ = try await rows(query, logger: logger, file: file, line: line)
    }

    /// Runs `statements` in order, in one exchange with the server: a `DO` block that executes each as it is, as if
    /// it had been sent alone. A schema's migration is tens of statements; sent one at a time, each waits a round
    /// trip, which on a loaded machine made a migration last seconds while other stores waited for its lock.
    ///
    /// The statements are the store's and the cluster's own (never a caller's text): none may contain the block's
    /// quoting tags.
    package func runAll(
        _ statements: [String], logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws {
        guard !statements.isEmpty else { return }
        let (block, statement) = ("$whizbang_block$", "$whizbang_statement$")
        let body = statements.map { text in
            precondition(!text.contains(block) && !text.contains(statement), "a statement holds a quoting tag")
            return "EXECUTE \(statement)\(text)\(statement);"
        }
        try await run(
            PostgresQuery(unsafeSQL: "DO \(block) BEGIN\n\(body.joined(separator: "\n"))\nEND \(block)"),
            logger: logger, file: file, line: line)
    }

    /// Runs `body` in a transaction of the connection: `BEGIN`, then `COMMIT` when `body` returns or `ROLLBACK` when
    /// it throws, each run as every other statement here.
    ///
    /// Unlike PostgresNIO's `withTransaction`, it fails when the server answers the `COMMIT` with a rollback, as it
    /// does when a statement of the transaction failed, even one whose error `body` caught. A `ROLLBACK` that fails
    /// closes the connection, which ends the transaction with it. What `body` throws is thrown unwrapped.
    ///
    /// - Throws: what `body` throws; otherwise the error of `BEGIN` or `COMMIT`, or
    ///   `EventStoreError/Code/storageFailure` when the server rolled the transaction back instead of committing it.
    package func withStoreTransaction<Result: Sendable>(
        logger: Logger, _ body: () async throws -> Result
    ) async throws -> Result {
        try await run("BEGIN", logger: logger)
        let result: Result
        do {
            result = try await body()
        } catch {
            if let ended = error as? PSQLError, ended.endsSession {
                await closeAndWait()
            } else {
                do {
                    try await run("ROLLBACK", logger: logger)
                } catch {
                    await closeAndWait()
                }
            }
            throw error
        }
        let commit = try await self.result("COMMIT", logger: logger, file: #fileID, line: #line)
        guard commit.metadata.command == "COMMIT" else {
            throw EventStoreError(
                .storageFailure,
                message: "PostgreSQL rolled the transaction back at its commit (\(commit.metadata.command)): a "
                    + "statement in it had failed; nothing of it was written")
        }
        return result
    }
}

extension PSQLError {
    /// Whether the server ends the session with this error: its severity is `FATAL` or `PANIC`, as for a backend
    /// terminated by an administrator (`57P01`) or a server shutting down.
    var endsSession: Bool {
        guard code == .server, let severity = serverInfo?[.severity] else { return false }
        return severity == "FATAL" || severity == "PANIC"
    }
}
