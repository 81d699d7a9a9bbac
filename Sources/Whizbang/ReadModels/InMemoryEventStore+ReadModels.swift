import Synchronization

extension InMemoryEventStore: ReadModelStore {
    /// The row of read model `name` under `key`; see ``ReadModelStore/readModelRow(named:key:)``.
    public func readModelRow(named name: String, key: String) async throws -> ReadModelRow? {
        try state.withLock { state throws(ReadModelError) in
            try state.readModels.servedTable(of: name).rows[UTF8Key(key)]
        }
    }

    /// The rows of read model `name` that `query` selects; see ``ReadModelStore/readModelRows(named:matching:)``.
    public func readModelRows(named name: String, matching query: ReadModelQuery) async throws -> [ReadModelRow] {
        let table = try state.withLock { state throws(ReadModelError) in
            try state.readModels.servedTable(of: name)
        }
        try query.validate(readModel: name)
        let selected = table.rows.filter { query.matches($0.value) }.sorted { $0.key < $1.key }
        return selected.prefix(query.limit).map(\.value)
    }

    /// Where read model `name` stands; see ``ReadModelStore/readModelStatus(named:)``.
    public func readModelStatus(named name: String) async throws -> ReadModelStatus {
        try state.withLock { state throws(ReadModelError) in
            try state.readModels.status(of: name, head: state.headPosition)
        }
    }

    /// Rebuilds read model `name` from position 0 before it returns, swapping the new rows in at once; see
    /// ``ReadModelStore/rebuildReadModel(named:)``.
    ///
    /// When the projection throws, the rows served before stay served and kept up, and ``readModelStatus(named:)``
    /// reports the read model ``ReadModelStatus/State/failed`` with the failed build in ``ReadModelStatus/rebuild``
    /// until a rebuild succeeds or the read model is registered again.
    public func rebuildReadModel(named name: String) async throws {
        try state.withLock { state throws(ReadModelError) in try state.rebuildReadModel(named: name) }
    }

    /// Waits until read model `name` serves rows up to `position`; see
    /// ``ReadModelStore/waitForReadModel(named:toReach:timeout:)``.
    @discardableResult
    public func waitForReadModel(named name: String, toReach position: UInt64?, timeout: Duration) async throws
        -> ReadModelStatus
    {
        let deadline = ContinuousClock.now + timeout.asTimeLimit
        var target = position
        while true {
            let status = try await readModelStatus(named: name)
            let goal = target ?? status.head
            target = goal
            if status.state == .failed {
                throw ReadModelError(.failed, readModel: name, message: status.failure ?? "the projection failed")
            }
            if status.state == .live, status.rebuild == nil, status.position >= goal { return status }
            guard try await signal.wait(after: status.position, until: deadline) else {
                throw ReadModelError(
                    .timedOut, readModel: name,
                    message: "the read model did not reach position \(goal) within \(timeout) (it is at \(status.position))")
            }
        }
    }
}
