import PostgresNIO

/// An error reported by the PostgreSQL server: its SQLSTATE, severity and message, the cause of the
/// `EventStoreError` a caller sees (its `underlyingError`).
///
/// It keeps only fields that name what failed, never what was sent: not the statement's SQL text nor its bound
/// values (postgres-nio's own error holds both), and not the server's `DETAIL` field, which repeats the values of a
/// violating row. Its ``description`` is `PostgreSQL error <SQLSTATE>: <message>`.
public struct PostgresServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The five-character SQLSTATE code, such as `42501` (insufficient privilege) or `23505` (unique violation).
    public var sqlState: String
    /// The severity, not localized: `ERROR`, `FATAL` or `PANIC`; empty when the server did not send one.
    public var severity: String
    /// The server's primary message, such as `permission denied for table events`.
    public var message: String
    /// The constraint that was violated, for an integrity constraint violation (class `23`).
    public var constraintName: String?
    /// The table concerned, where the server names one.
    public var tableName: String?

    /// Creates the error from its fields; the store makes these from the server's error response.
    public init(
        sqlState: String, severity: String, message: String, constraintName: String? = nil, tableName: String? = nil
    ) {
        self.sqlState = sqlState
        self.severity = severity
        self.message = message
        self.constraintName = constraintName
        self.tableName = tableName
    }

    /// The server's error fields of `error`, or `nil` when the server did not send an SQLSTATE.
    init?(_ error: PSQLError) {
        guard let info = error.serverInfo, let sqlState = info[.sqlState] else { return nil }
        self.init(
            sqlState: sqlState, severity: info[.severity] ?? "", message: info[.message] ?? "",
            constraintName: info[.constraintName], tableName: info[.tableName])
    }

    /// `PostgreSQL error <SQLSTATE>: <message>`.
    public var description: String {
        "PostgreSQL error \(sqlState): \(message)"
    }
}
