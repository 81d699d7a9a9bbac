/// A read model that a ``SQLiteEventStore`` keeps in its own database file and updates inside each append's
/// transaction, atomically with the events.
///
/// An inline projection never lags the log and never disagrees with it: once an append returns, its events are in the
/// read model's tables; if the append fails (a conflict, or ``apply(_:in:)`` throwing), neither its events nor the
/// projection's writes are kept. It needs no checkpoint. The price is that its work is done on the store's writer
/// thread, inside the group commit, so it should be a few indexed statements per event.
///
/// Register projections in ``SQLiteEventStore/Configuration/inlineProjections``. At open, each projection's
/// ``schema`` statements run in one transaction; write them so that running them again changes nothing
/// (`CREATE TABLE IF NOT EXISTS ...`). Read the tables from any other connection (the `sqlite3` shell, another
/// library) while the store runs: WAL mode lets readers see each committed state.
///
/// Events appended before a projection was registered are not applied to it; to build its tables from an existing
/// log, replay the log with a `Whizbang/ProjectionRunner` once, or start from an empty store.
///
/// For a read model that the store backfills from an existing log, rebuilds when its fold changes and answers
/// queries on (by key, key range and indexed value), write a `Whizbang/ReadModelProjection` instead and register it
/// in ``SQLiteEventStore/Configuration/readModels``: it needs no SQL, and it works the same on every store. This
/// protocol stays for read models that need tables and SQL of their own.
public protocol SQLiteInlineProjection: Sendable {
    /// A name for errors and logs.
    var name: String { get }

    /// The statements that create the projection's tables and indexes; run at open, so they must be idempotent.
    var schema: [String] { get }

    /// Applies the events of one append, in order, inside the append's transaction.
    ///
    /// - Parameters:
    ///   - events: the events as they are being recorded, with their versions and positions.
    ///   - database: runs statements in the append's transaction; valid only during this call.
    /// - Throws: any error, which fails the append with `Whizbang/EventStoreError/Code/inlineProjectionFailed`;
    ///   the append's events and this call's writes are rolled back.
    func apply(_ events: [RecordedEvent], in database: SQLiteInlineDatabase) throws
}
