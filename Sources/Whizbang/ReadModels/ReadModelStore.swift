/// An event store that keeps read models (``ReadModelProjection``) in its own database and answers queries on them.
///
/// Read models are registered when the store is opened (each store's configuration has a `readModels` list); the
/// store creates their tables, backfills them from the log, keeps them up to date and serves them. Use ``ReadModel``
/// for typed access; these methods work on encoded rows.
///
/// Every method here is read-only except ``rebuildReadModel(named:)``, and none changes the log.
public protocol ReadModelStore: EventStore {
    /// The row of read model `name` under `key`, from the generation being served; `nil` if there is none.
    ///
    /// - Throws: ``ReadModelError`` (``ReadModelError/Code/unknownReadModel``, ``ReadModelError/Code/notLive``), or
    ///   `EventStoreError` from the store.
    func readModelRow(named name: String, key: String) async throws -> ReadModelRow?

    /// The rows of read model `name` that `query` selects, in ascending key order (UTF-8 bytes), at most
    /// ``ReadModelQuery/limit`` of them, all from one consistent state of the generation being served.
    ///
    /// - Throws: ``ReadModelError`` (``ReadModelError/Code/unknownReadModel``, ``ReadModelError/Code/notLive``,
    ///   ``ReadModelError/Code/invalidQuery``), or `EventStoreError` from the store.
    func readModelRows(named name: String, matching query: ReadModelQuery) async throws -> [ReadModelRow]

    /// Where read model `name` stands.
    ///
    /// - Throws: ``ReadModelError`` (``ReadModelError/Code/unknownReadModel``), or `EventStoreError` from the
    ///   store.
    func readModelStatus(named name: String) async throws -> ReadModelStatus

    /// Starts building a fresh generation of read model `name` from position 0, beside the one being served; when
    /// it has caught up with the log it replaces the served rows in one transaction and the old rows are deleted.
    /// Readers see the old rows until that moment and the new ones after it, never an empty or partial table.
    ///
    /// Returns once the rebuild is recorded (it resumes after a restart); follow it with ``readModelStatus(named:)``
    /// or wait for it with ``waitForReadModel(named:toReach:timeout:)``. A rebuild already running is restarted
    /// from position 0. A store whose version of the read model is older than the one another store on the same
    /// database serves or builds (a rolling upgrade) leaves that version alone and refuses.
    ///
    /// - Throws: ``ReadModelError`` (``ReadModelError/Code/unknownReadModel``; ``ReadModelError/Code/invalidVersion``
    ///   when a newer version is served or built), or `EventStoreError` from the store.
    func rebuildReadModel(named name: String) async throws

    /// Waits until read model `name` is live, not rebuilding, and serves rows up to at least `position` (the head of
    /// the log when `position` is `nil`), then returns its status.
    ///
    /// - Parameters:
    ///   - name: the read model.
    ///   - position: the global position to reach; `nil` for the head of the log when the call starts.
    ///   - timeout: the longest to wait.
    /// - Throws: ``ReadModelError`` (``ReadModelError/Code/timedOut`` when `timeout` passes first,
    ///   ``ReadModelError/Code/failed`` when the read model fails, ``ReadModelError/Code/unknownReadModel``),
    ///   `CancellationError`, or `EventStoreError` from the store (for example when it closes).
    @discardableResult
    func waitForReadModel(named name: String, toReach position: UInt64?, timeout: Duration) async throws
        -> ReadModelStatus
}
