import Logging
import PostgresNIO
import WhizbangPostgres

/// The time limits of the cluster's own transactions that lock partitions: the server ends a statement, or a
/// transaction left idle, after half a lease, so that a paused or cut-off node cannot keep other nodes from claiming
/// its partitions (they skip locked rows) for longer than its lease.
///
/// The limits are set for the transaction only (`set_config(…, true)`), with one more round trip, unless the store's
/// own configuration already sets both as low (``PostgresEventStore/Configuration/statementTimeout`` and
/// ``PostgresEventStore/Configuration/idleInTransactionTimeout``), as the sample's nodes do.
struct TransactionBounds: Sendable {
    /// The limit in milliseconds, or `nil` when the store's settings are as low already.
    let milliseconds: Int64?

    init(store: PostgresEventStore.Configuration, cluster: ClusterConfiguration) {
        // PostgreSQL takes at most Int32.max milliseconds (some 24 days) for either setting.
        let half = min(Int64(Int32.max), max(200, cluster.leaseDuration.wholeMilliseconds / 2))
        func isAsLow(_ setting: Duration?) -> Bool {
            setting.map { $0 > .zero && $0.wholeMilliseconds <= half } ?? false
        }
        milliseconds = isAsLow(store.statementTimeout) && isAsLow(store.idleInTransactionTimeout) ? nil : half
    }

    /// Sets the limits in the transaction on `connection`.
    func apply(on connection: PostgresConnection, logger: Logger) async throws {
        guard let milliseconds else { return }
        let value = "\(milliseconds)ms"
        try await connection.run(
            """
            SELECT set_config('statement_timeout', \(value), true),
                set_config('idle_in_transaction_session_timeout', \(value), true)
            """, logger: logger)
    }
}
