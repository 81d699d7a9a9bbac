import Synchronization
public import Whizbang

extension SQLiteEventStore: ReadModelStore {
    /// The row of read model `name` under `key`, from the generation being served; see
    /// `ReadModelStore/readModelRow(named:key:)`. One read transaction on a reader connection.
    public func readModelRow(named name: String, key: String) async throws -> ReadModelRow? {
        try requireRegistered(name)
        let snapshot = try await readers.read { reader throws(SQLiteError) in
            try reader.readModelSnapshot(name, key: key)
        }
        try requireServed(name, snapshot.state)
        return snapshot.rows.first
    }

    /// The rows of read model `name` that `query` selects, in ascending UTF-8 key order; see
    /// `ReadModelStore/readModelRows(named:matching:)`. The state and the rows are read in one read transaction,
    /// so a rebuild's swap is seen whole or not at all.
    public func readModelRows(named name: String, matching query: ReadModelQuery) async throws -> [ReadModelRow] {
        try requireRegistered(name)
        try query.validate(readModel: name)
        let snapshot = try await readers.read { reader throws(SQLiteError) in
            try reader.readModelSnapshot(name, query: query)
        }
        try requireServed(name, snapshot.state)
        return snapshot.rows
    }

    /// Where read model `name` stands; see `ReadModelStore/readModelStatus(named:)`.
    public func readModelStatus(named name: String) async throws -> ReadModelStatus {
        try requireRegistered(name)
        readModelStatusReads.add(1, ordering: .relaxed)
        let snapshot = try await readers.read { reader throws(SQLiteError) in try reader.readModelSnapshot(name) }
        return (snapshot.state ?? SQLiteReadModelState(position: 0)).status(name: name, head: snapshot.head)
    }

    /// Starts a new generation of read model `name` from position 0 in the next group commit; see
    /// `ReadModelStore/rebuildReadModel(named:)`. The writer builds it in batches between group commits and swaps
    /// it in, in the transaction of the batch that reaches the head of the log.
    public func rebuildReadModel(named name: String) async throws {
        try requireRegistered(name)
        try await withUnsafeThrowingContinuation { continuation in
            writer.submit(.rebuildReadModel(name: name, continuation: continuation))
        }
    }

    /// Waits until read model `name` is live, not rebuilding, and serves rows up to `position`; see
    /// `ReadModelStore/waitForReadModel(named:toReach:timeout:)`.
    ///
    /// It reads the status again after each commit of this store's writer, and at least every
    /// ``Configuration/externalChangePollInterval`` (taken as 1 millisecond when it is less): another store on the
    /// file (in this process or another) may fold the events, and its commits do not wake this one. It fails with `EventStoreError/Code/closed` when the store
    /// closes.
    @discardableResult
    public func waitForReadModel(named name: String, toReach position: UInt64?, timeout: Duration) async throws
        -> ReadModelStatus
    {
        try requireRegistered(name)
        let deadline = ContinuousClock.now + timeout.asTimeLimit
        var goal = position
        while true {
            let observed = readModelSignal.head
            // Read once more when the time is up: the goal may have been reached while the wait was woken last.
            let timeIsUp = ContinuousClock.now >= deadline
            let status = try await readModelStatus(named: name)
            let target = goal ?? status.head
            goal = target
            if status.state == .failed {
                throw ReadModelError(.failed, readModel: name, message: status.failure ?? "the projection failed")
            }
            if status.state == .live, status.rebuild == nil, status.position >= target { return status }
            guard !timeIsUp else {
                throw ReadModelError(
                    .timedOut, readModel: name,
                    message: "the read model did not reach position \(target) within \(timeout) "
                        + "(it is at \(status.position))")
            }
            _ = try await readModelSignal.wait(
                after: observed, until: min(deadline, .now + configuration.pollInterval))
        }
    }

    /// How many times the store has read a read model's status (``readModelStatus(named:)``, and each reading of
    /// ``waitForReadModel(named:toReach:timeout:)``); for tests that bound how often a wait reads it.
    package var readModelStatusReadCount: Int {
        readModelStatusReads.load(ordering: .relaxed)
    }

    /// The number of writes queued for the writer thread and not yet taken; for tests that must know an append is
    /// queued before they let the writer go on.
    package var pendingWriteCount: Int {
        writer.pendingCount
    }

    private func requireRegistered(_ name: String) throws(ReadModelError) {
        guard readModelDefinitions.contains(where: { $0.name == name }) else {
            throw ReadModelError(
                .unknownReadModel, readModel: name, message: "no read model of this name is registered with the store")
        }
    }

    private func requireServed(_ name: String, _ state: SQLiteReadModelState?) throws(ReadModelError) {
        guard let state, state.servedGeneration != nil else {
            if let failure = state?.failure {
                throw ReadModelError(.failed, readModel: name, message: "the first backfill failed: \(failure)")
            }
            throw ReadModelError(
                .notLive, readModel: name, message: "the read model's first backfill has not reached the head of the log")
        }
    }
}
