import Logging
import PostgresNIO
import Synchronization
import Whizbang

/// The tables a store opened, named by the object id of their `events` table: the store's appends pass it to the
/// fence of ``PostgresSchema/fencedAppendFunction``, and its listener compares it each time it connects again.
/// Tables dropped and made again under the same names (a replacing restore) have another id.
final class StoreTables: Sendable {
    private let id = Atomic<Int64>(0)
    private let schema: String
    /// What closes the store, called when an append finds its tables dropped or replaced.
    private let closeStore = Mutex<(@Sendable (EventStoreError) -> Void)?>(nil)
    /// The error of an append that found them so, until ``closeIfReplaced()`` closes the store with it.
    private let found = Mutex<EventStoreError?>(nil)

    init(schema: String) { self.schema = schema }

    /// Sets what closes the store when an append finds its tables dropped or replaced.
    func onReplaced(_ close: @escaping @Sendable (EventStoreError) -> Void) { closeStore.withLock { $0 = close } }

    /// Runs `body`, which runs the store's own fenced append statement. The fence's refusal
    /// (`PostgresSchema.replacedTablesState`: the schema's tables are not the ones the store opened) is thrown as
    /// ``replaced(_:)``, and the store closes at the caller's next ``closeIfReplaced()``, once the append's callers
    /// have their answer. (Tables or a schema that are gone, renamed or out of the role's reach fail the statement
    /// with the server's own error, and nothing is written: the store's listener closes it if they are gone when it
    /// connects again.)
    func fenced<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as PSQLError {
            guard error.serverInfo?[.sqlState] == PostgresSchema.replacedTablesState else { throw error }
            throw foundReplaced()
        }
    }

    /// Notes that a write found the store's tables dropped or replaced and wrote nothing, and returns the error to
    /// fail it with; the store closes at the caller's next ``closeIfReplaced()``.
    func foundReplaced() -> EventStoreError {
        let closed = Self.replaced(schema)
        found.withLock { $0 = closed }
        return closed
    }

    /// Closes the store if an append found its tables dropped or replaced (``fenced(_:)``). Call it once the append's
    /// callers have their answer: closing fails what is still in flight with its own error.
    func closeIfReplaced() {
        guard let closed = found.withLock({ $0 }) else { return }
        closeStore.withLock { $0 }?(closed)
    }

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
            message: "the event store was closed: the tables of schema '\(schema)' are no longer the ones it opened "
                + "(dropped, renamed or replaced while it ran); open a new store on them")
    }
}
