import Logging
import PostgresNIO
import WhizbangPostgres

/// Deletes the inbox rows whose results were recorded more than ``ClusterConfiguration/inboxRetention`` ago, so that
/// the inbox does not keep every command forever.
///
/// Each pass looks at the oldest rows of the inbox (in row order, which is the order of arrival) and deletes those
/// among them that have a result older than the retention; pending rows and recent results stay. A row another node
/// is deleting at the same moment is skipped, not waited for. Rows are deleted oldest first, so a pass that finds
/// no expired row among the oldest ones ends the work for now; pending rows at the head of the inbox (a backlog of
/// commands not yet run) hold the pruning back until they run.
struct InboxRetention: Sendable {
    let store: PostgresEventStore
    /// The cluster's schema, quoted.
    let schema: String
    let retention: Duration
    /// The most rows one pass looks at (and so deletes).
    let passSize: Int

    /// Runs one pass; returns the number of rows it deleted.
    func prune() async throws -> Int {
        let schema = self.schema
        let milliseconds = retention.wholeMilliseconds
        let limit = Int64(passSize)
        return try await store.withTrustedConnection { connection, logger in
            let rows = try await connection.rows(
                """
                WITH expired AS (
                    SELECT id FROM \(unescaped: schema).inbox
                    WHERE id IN (SELECT id FROM \(unescaped: schema).inbox ORDER BY id LIMIT \(limit))
                        AND status <> 0 AND done_at < now() - \(milliseconds) * interval '1 millisecond'
                    FOR UPDATE SKIP LOCKED
                ), deleted AS (
                    DELETE FROM \(unescaped: schema).inbox AS i USING expired WHERE i.id = expired.id RETURNING 1
                )
                SELECT count(*)::bigint FROM deleted
                """, logger: logger
            )
            return Int(try rows.first?.decode(Int64.self) ?? 0)
        }
    }

    /// Runs passes while each finds a full pass of expired rows and `proceed` allows, at most `maximumPasses`;
    /// returns the rows deleted.
    func pruneExpired(maximumPasses: Int = 10, while proceed: () -> Bool = { true }) async throws -> Int {
        var deleted = 0
        for _ in 0..<maximumPasses where proceed() {
            let pass = try await prune()
            deleted += pass
            if pass < passSize { break }
        }
        return deleted
    }
}
