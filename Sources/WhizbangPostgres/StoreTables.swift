import Logging
import PostgresNIO
import Synchronization
import Whizbang

/// The tables a store opened, named by the object id of their `events` table: the store's appends pass it to the
/// fence of ``PostgresSchema/fencedAppendFunction``, and its listener compares it each time it connects again.
/// Tables dropped and made again under the same names (a replacing restore) have another id.
final class StoreTables: Sendable {
    private let id = Atomic<Int64>(0)

    /// The object id read when the store opened; 0 before.
    var current: Int64 { id.load(ordering: .acquiring) }

    /// Records the object id of the tables the store opened.
    func open(_ tables: Int64) { id.store(tables, ordering: .releasing) }

    /// The object id of the `events` table of `schema` now, on `connection`; 0 when it has none.
    static func read(_ schema: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        try await connection.rows(
            "SELECT coalesce(to_regclass(quote_ident(\(schema)) || '.events')::oid::bigint, 0)", decoding: Int64.self,
            logger: logger
        ).first ?? 0
    }

    /// The listener found other tables than the store's when it connected again.
    struct Replaced: Error {}

    /// The error of a store whose tables are no longer the ones it opened.
    static func replaced(_ schema: String) -> EventStoreError {
        EventStoreError(
            .closed,
            message: "the event store was closed: the tables of schema '\(schema)' were dropped or replaced while it "
                + "ran (while its listening connection was lost, no lock kept that out); open a new store on them")
    }
}
