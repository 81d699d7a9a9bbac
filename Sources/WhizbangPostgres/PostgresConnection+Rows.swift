package import Logging
package import PostgresNIO

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
        // Started on the event loop, so that the collecting callback is attached before the first rows can arrive.
        let result = eventLoop.flatSubmit { self.query(query, logger: logger, file: file, line: line) }
        return try await result.get().rows
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
    package func runAll(_ statements: [String], logger: Logger, file: String = #fileID, line: Int = #line) async throws {
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
}
