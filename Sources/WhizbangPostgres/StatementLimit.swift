import Synchronization
import Whizbang

/// A time limit, kept by the client, on each statement run in its scope on a connection that a store opened apart
/// from its pool (to migrate, inspect, drop or restore a schema, or to listen).
///
/// The server bounds those statements itself (`statement_timeout`, `lock_timeout`), but only while it answers: a
/// server that stops (a host that hangs, a network path that drops packets after a failover) never sends the error,
/// and the caller would wait for ever. Pooled requests are bounded by `RequestDeadlines`; these are not pooled. Every
/// statement goes through `PostgresConnection.rows(_:logger:)`, which, inside ``withLimit(_:server:on:_:)`` and on
/// the connection given there, closes the connection when the statement has not answered within the limit and throws
/// `unavailable`.
struct StatementLimit: Sendable {
    /// The limit in effect for the current task, if any.
    @TaskLocal static var current: StatementLimit?

    /// How long a statement may wait for its answer.
    var limit: Duration
    /// The server, as error messages name it.
    var server: String
    /// The connection whose statements are bounded: statements on any other connection (a pool's, in a task that
    /// inherited this value) are not.
    var connection: ObjectIdentifier

    /// The limit for a connection whose server-side limits are `serverLimit`: a second longer, so that a server that
    /// still answers reports its own timeout (which names the cause) before the client gives up.
    static func forServerLimit(_ serverLimit: Duration) -> Duration {
        serverLimit.asTimeLimit + .seconds(1)
    }

    /// Runs `body` with every statement it runs on `connection` bounded by `serverLimit` plus a second
    /// (``forServerLimit(_:)``).
    static func withLimit<Result>(
        _ serverLimit: Duration, server: String, on connection: AnyObject, _ body: () async throws -> Result
    ) async throws -> Result {
        let limit = StatementLimit(
            limit: forServerLimit(serverLimit), server: server, connection: ObjectIdentifier(connection))
        return try await $current.withValue(limit) { try await body() }
    }

    /// The error of a statement that did not answer in time.
    var exceeded: EventStoreError {
        EventStoreError(
            .unavailable,
            message: "PostgreSQL at \(server) did not answer a statement within \(limit); the connection was closed")
    }

    /// A flag set once: whether a statement's answer arrived, or its limit's timer fired.
    final class Flag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }
}
