import Foundation
import PostgresNIO
public import Whizbang

extension PostgresEventStore: ReadModelStore {
    /// The row of read model `name` under `key`, from the generation being served; `nil` if there is none.
    ///
    /// One statement reads the served generation and the row, so the answer belongs to one snapshot.
    ///
    /// - Throws: `ReadModelError` (`unknownReadModel`, `notLive` while the first backfill runs), or
    ///   `EventStoreError` (`closed`, `unavailable`, a storage failure; `corruptDatabase` for a row whose position is
    ///   negative, which no store writes).
    public func readModelRow(named name: String, key: String) async throws -> ReadModelRow? {
        _ = try readModels.definition(named: name)
        // No row has a key with a NUL character (no store keeps one), and PostgreSQL text cannot hold it.
        guard !key.utf8.contains(0) else { return nil }
        let rows = try await withTrustedConnection { connection, logger in
            try await connection.rows(
                """
                SELECT m.served_generation, r.index_value, r.position, r.body
                FROM read_models m
                LEFT JOIN read_model_rows r
                    ON r.model = m.name AND r.generation = m.served_generation AND r.key = \(key)
                WHERE m.name = \(name)
                """, logger: logger
            )
        }
        guard let row = rows.first else { throw Self.notRecorded(name) }
        let (generation, indexValue, position, body) = try row.decode((Int64?, String?, Int64?, Data?).self)
        guard generation != nil else { throw Self.notLive(name) }
        guard let position, let body else { return nil }
        let stored = try PostgresReadModels.rowPosition(position, key: key, of: name)
        return ReadModelRow(key: key, indexValue: indexValue, position: stored, body: body)
    }

    /// The rows of read model `name` that `query` selects, in ascending key order (compared as bytes), from one
    /// snapshot of the generation being served.
    ///
    /// - Throws: `ReadModelError` (`unknownReadModel`, `notLive`, `invalidQuery`), or `EventStoreError`
    ///   (`corruptDatabase` for a row whose position is negative).
    public func readModelRows(named name: String, matching query: ReadModelQuery) async throws -> [ReadModelRow] {
        _ = try readModels.definition(named: name)
        try query.validate(readModel: name)
        let limit = Int64(query.limit)
        let rows = try await withTrustedConnection { connection, logger in
            try await connection.rows(
                """
                SELECT m.served_generation, r.key, r.index_value, r.position, r.body
                FROM read_models m
                LEFT JOIN LATERAL (
                    SELECT r.key, r.index_value, r.position, r.body FROM read_model_rows r
                    WHERE r.model = m.name AND r.generation = m.served_generation
                        AND (\(query.keysFrom)::text IS NULL OR r.key >= \(query.keysFrom)::text COLLATE "C")
                        AND (\(query.keysBefore)::text IS NULL OR r.key < \(query.keysBefore)::text COLLATE "C")
                        AND (\(query.after)::text IS NULL OR r.key > \(query.after)::text COLLATE "C")
                        AND (\(query.indexValue)::text IS NULL OR r.index_value = \(query.indexValue)::text COLLATE "C")
                    ORDER BY r.key LIMIT \(limit)
                ) r ON true
                WHERE m.name = \(name)
                """, logger: logger
            )
        }
        let decoded = try rows.map { try $0.decode((Int64?, String?, String?, Int64?, Data?).self) }
        guard let first = decoded.first else { throw Self.notRecorded(name) }
        guard first.0 != nil else { throw Self.notLive(name) }
        var result: [ReadModelRow] = []
        for (_, key, indexValue, position, body) in decoded {
            guard let key, let position, let body else { continue }
            result.append(
                ReadModelRow(
                    key: key, indexValue: indexValue,
                    position: try PostgresReadModels.rowPosition(position, key: key, of: name), body: body))
        }
        return result
    }

    /// Where read model `name` stands, read in one statement with the head of the log.
    ///
    /// A rebuild (or a new version's build) beside the rows served whose projection threw is reported as
    /// `ReadModelStatus.State.failed`, with what it threw and where it stopped (`ReadModelStatus.rebuild`); the
    /// rows served are still served and kept up by the processes that run their version, and
    /// `ReadModelStatus.position` says how far.
    ///
    /// - Throws: `ReadModelError` (`unknownReadModel`), or `EventStoreError` (`corruptDatabase` for a position that
    ///   is negative in the read model's state row).
    public func readModelStatus(named name: String) async throws -> ReadModelStatus {
        _ = try readModels.definition(named: name)
        let rows = try await withTrustedConnection { connection, logger in
            try await connection.rows(
                """
                SELECT \(unescaped: PostgresReadModels.State.columns),
                    (SELECT coalesce(max(position), 0)::bigint FROM events)
                FROM read_models WHERE name = \(name)
                """, logger: logger
            )
        }
        guard let row = rows.first else { throw Self.notRecorded(name) }
        let (state, head) = try PostgresReadModels.State.withHead(row)
        return try Self.status(of: state, head: head)
    }

    /// The status a state row gives, with the log at `head`.
    ///
    /// - Throws: `EventStoreError` (`corruptDatabase`) for a negative position, which no store writes.
    static func status(of state: PostgresReadModels.State, head: UInt64) throws(EventStoreError)
        -> ReadModelStatus
    {
        func stored(_ position: Int64, _ column: String) throws(EventStoreError) -> UInt64 {
            try RecordedEventColumns.stored(position, "\(column) of read model '\(state.name)'")
        }
        let buildingPosition = try stored(state.buildingPosition, "building position")
        // A failed build leaves the state of the rows served as it was; its failure is reported all the same.
        let phase: ReadModelStatus.State =
            if state.state == "failed" || state.failure != nil {
                .failed
            } else {
                state.state == "live" ? .live : .backfilling
            }
        guard state.servedGeneration != nil else {
            return ReadModelStatus(
                name: state.name, state: phase, servedVersion: nil, position: buildingPosition,
                head: head, failure: state.failure)
        }
        let rebuild = state.buildingGeneration.map { _ in
            ReadModelStatus.Rebuild(
                version: Int(state.buildingVersion ?? 0), position: buildingPosition, head: head)
        }
        return ReadModelStatus(
            name: state.name, state: phase, servedVersion: state.servedVersion.map(Int.init),
            position: try stored(state.servedPosition, "served position"), head: head, rebuild: rebuild,
            failure: state.failure)
    }

    /// Starts building a fresh generation of read model `name` from position 0 beside the one served; the store's
    /// follower swaps it in, in the transaction that applies the last event of the log, and then deletes the old
    /// rows in batches. Until then the rows served go on following the log. A rebuild already running restarts from
    /// 0. Clears a failure.
    ///
    /// A process whose read model is older than the version another process serves or builds (a rolling upgrade)
    /// leaves the rows to the newer processes, as it does when it starts: its rebuild is refused and changes nothing.
    ///
    /// - Throws: `ReadModelError` (`unknownReadModel`; `invalidVersion` when a newer version is served or built), or
    ///   `EventStoreError` (`readOnly`, `closed`, `unavailable`).
    public func rebuildReadModel(named name: String) async throws {
        let definition = try readModels.definition(named: name)
        try refuseWriteIfReadOnly("a read model rebuild")
        let version = Int32(clamping: definition.version)
        // In a transaction of its own, so that the rebuild counts as started only once `COMMIT` has answered.
        let newer = try await withTrustedConnection { connection, logger in
            try await connection.withStoreTransaction(logger: logger) {
                try await connection.rows(
                    """
                    WITH current AS (
                        SELECT name, greatest(nullif(served_version, 2147483647), nullif(building_version, 2147483647))
                            AS newest
                        FROM read_models
                        WHERE name = \(name) FOR UPDATE
                    ), started AS (
                        UPDATE read_models r SET building_generation = next_generation,
                            building_version = \(version), building_position = 0,
                            next_generation = next_generation + 1,
                            state = CASE WHEN served_generation IS NULL THEN 'backfilling' ELSE 'live' END,
                            failure = NULL
                        FROM current c WHERE r.name = c.name AND coalesce(c.newest, \(version)) <= \(version)
                    )
                    SELECT coalesce(newest, \(version))::integer FROM current
                    """, decoding: Int32.self, logger: logger
                )
            }
        }
        guard let newest = newer.first else { throw Self.notRecorded(name) }
        guard newest <= version else {
            throw ReadModelError(
                .invalidVersion, readModel: name,
                message: "read model '\(name)' is served or built at version \(newest), newer than this process's "
                    + "\(version): its rebuild is left to the processes that run that version (to go back to an "
                    + "older fold, give it a version above \(newest))")
        }
        readModels.noteChange()
        readModels.kick()
    }

    /// Waits until read model `name` is live, not rebuilding, and serves rows up to `position` (the head of the log
    /// when `nil`); wakes on this store's read model commits and appends, and looks again at least every
    /// ``Configuration/readModelPollInterval`` for the work of other processes.
    ///
    /// `timeout` bounds the whole wait, its reads of the head and of the read model's status included: each read may
    /// go on past it by at most a quarter of a second (for one more look at the status when the time is up, and the
    /// first look of a zero timeout); a read still under way then (a server that does not
    /// answer) is cancelled, and the wait ends with `timedOut`, saying the database did not answer.
    ///
    /// - Throws: `ReadModelError` (`timedOut`; `failed` when the projection threw, on the rows served or on a rebuild;
    ///   `unknownReadModel`), `CancellationError`, or `EventStoreError` (`closed`, `unavailable` when the server
    ///   answered with a failure before the time was up).
    @discardableResult
    public func waitForReadModel(named name: String, toReach position: UInt64?, timeout: Duration) async throws
        -> ReadModelStatus
    {
        _ = try readModels.definition(named: name)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout.asTimeLimit)
        let timedOut = { (what: String) in
            ReadModelError(
                .timedOut, readModel: name,
                message: "the read model's \(what) did not come within \(timeout): the database did not answer in time")
        }
        let target: UInt64
        if let position {
            target = position
        } else {
            guard let head = try await Self.read(within: deadline, { try await self.headPosition() }) else {
                throw timedOut("head of the log")
            }
            target = head
        }
        while true {
            let seenProgress = readModels.progress.head
            let seenHead = signal.head
            guard let status = try await Self.read(within: deadline, { try await self.readModelStatus(named: name) })
            else { throw timedOut("status") }
            if status.state == .failed {
                throw ReadModelError(
                    .failed, readModel: name, message: status.failure ?? "the read model failed")
            }
            if status.state == .live && status.rebuild == nil && status.position >= target { return status }
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else {
                throw ReadModelError(
                    .timedOut, readModel: name,
                    message: "the read model did not reach position \(target) within \(timeout); it is \(status.state) "
                        + "at \(status.position)")
            }
            try Task.checkCancellation()
            if lifecycle.isClosed { throw EventStoreError(.closed, message: "the event store was closed") }
            let progress = readModels.progress
            await PostgresReadModels.waitForAny(
                [{ try await progress.wait(after: seenProgress) }, { try await self.waitForEvents(after: seenHead) }],
                upTo: min(remaining, readModels.pollInterval))
        }
    }

    /// How long a read of ``waitForReadModel(named:toReach:timeout:)`` may go on past the wait's deadline: more than
    /// a round trip to a server that answers, so that a wait whose time is up looks once more, and a zero timeout
    /// still reads the status, without cutting a healthy read (whose cancellation would close its connection).
    static let readAllowance: Duration = .milliseconds(250)

    /// What `read` returns, or `nil` when it has not returned by `deadline` or ``readAllowance`` from now, whichever
    /// is later: `read` is then cancelled (the store's reads end at once on cancellation) and awaited. An error `read`
    /// throws first is thrown; so is the caller's cancellation.
    private static func read<Value: Sendable>(
        within deadline: ContinuousClock.Instant, _ read: @escaping @Sendable () async throws -> Value
    ) async throws -> Value? {
        let limit = max(deadline, ContinuousClock.now + readAllowance)
        return try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await read() }
            group.addTask {
                try await Task.sleep(until: limit, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    private static func notRecorded(_ name: String) -> ReadModelError {
        ReadModelError(
            .unknownReadModel, readModel: name,
            message: "read model '\(name)' has no state row in the store's schema; is run() running?")
    }

    private static func notLive(_ name: String) -> ReadModelError {
        ReadModelError(
            .notLive, readModel: name, message: "read model '\(name)' is still being backfilled for the first time")
    }
}
