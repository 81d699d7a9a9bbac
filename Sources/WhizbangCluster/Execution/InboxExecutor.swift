#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CoreMetrics
import Logging
import PostgresNIO
import Synchronization
import Whizbang
import WhizbangPostgres

/// Runs a node's pending inbox commands in batches: each batch commits in one transaction that first checks the
/// fence (every partition involved is still this member's, at the epoch it claimed), then appends every stream's
/// new events (one append per stream, with the expected version the node's cache holds), then records each
/// command's result. A stale owner's transaction fails at the fence and writes nothing.
///
/// Commands run in inbox order; a stream's commands in one batch are decided one after another on the state its
/// previous ones left, and their events go in one append, so they commit together or not at all.
final class InboxExecutor: Sendable {
    struct Row: Sendable {
        var id: Int64
        var messageID: MessageID
        var partition: Int32
        var streamID: StreamID
        var aggregateType: String
        var payload: Data
    }

    struct CachedState: Sendable {
        var aggregateType: String
        var version: UInt64
        var state: any Sendable
        var partition: Int32
        /// The partition's epoch when the state was read or written: a state cached under another epoch may have
        /// been changed by another owner meanwhile.
        var epoch: Int64
    }

    /// What one batch did, for the node's statistics and the tests.
    struct BatchReport: Sendable, Equatable {
        var fetched = 0
        var completed = 0
        var fenceRejected = false
        var lostPartitions: [Int32] = []
    }

    private struct Completion {
        var row: Row
        var result: ClusterCommandResult
        var epoch: Int64
    }

    /// The work of one stream in a batch.
    private struct StreamWork {
        var streamID: StreamID
        var partition: Int32
        var aggregateType: String?
        var startVersion: UInt64 = 0
        var events: [EventData] = []
        var completions: [Completion] = []
        var finalState: CachedState? = nil
        var rowCount = 0
        /// What the stream's accepted commands send, counted as ``ClusterConfiguration/maximumBatchBytes`` counts.
        var bytes = 0
    }

    let store: PostgresEventStore
    let aggregates: ClusterAggregates
    let configuration: ClusterConfiguration
    let nodeID: String
    let member: String
    let metrics: ClusterMetrics
    private let schema: String
    private let channel: String
    private let cache = Mutex<[StreamID: CachedState]>([:])
    /// Streams whose last combined append failed for a reason other than the version: run one command at a time.
    private let isolated = Mutex<Set<StreamID>>([])
    private let cursor: Mutex<InboxCursor>
    /// How the node narrows down a batch the database refused.
    private let refusals = Mutex(BatchRefusals())
    /// The form in which this node stores results: JSON until ``ClusterSchema/prepare(_:partitionCount:logger:)``
    /// has read the cluster's setting.
    let resultForm = Mutex(ClusterCommandResult.StoredForm.json)

    init(
        store: PostgresEventStore, aggregates: ClusterAggregates, configuration: ClusterConfiguration, nodeID: String,
        member: String, metrics: ClusterMetrics
    ) {
        self.store = store
        self.aggregates = aggregates
        self.configuration = configuration
        self.nodeID = nodeID
        self.member = member
        self.metrics = metrics
        self.schema = "\"\(ClusterSchema.name(forStore: store.configuration.schema))\""
        self.channel = ClusterSchema.channel(forStore: store.configuration.schema)
        self.cursor = Mutex(InboxCursor(fullFetchInterval: configuration.pollInterval))
    }

    /// Makes the next fetch look at rows from `id` on (`nil`: from the first row), after an insert into one of the
    /// node's partitions committed there.
    func inserted(from id: Int64?) { cursor.withLock { $0.lower(to: id) } }

    /// Forgets every cached state (after a failed commit whose outcome is unknown, or a lost partition).
    func clearCache() { cache.withLock { $0 = [:] } }

    /// The pending rows of the given partitions from row id `start` on, oldest first, up to `limit`; and, when
    /// `start` is past the first row, every pending row below `start` of the streams those rows are on.
    ///
    /// Each partition's rows come from the index of pending rows by partition, so a node reads no entry of another
    /// node's partitions. A backlog costs up to `limit` rows read per partition (each a visit to the table, which
    /// the check of the row's visibility needs anyway); picking ids first and reading the chosen rows after ran
    /// one node 15% slower in alternating runs (BENCHMARKS.md), so whole rows are read.
    ///
    /// Row ids are drawn before their inserts commit, so a row can become visible below `start` after an earlier
    /// fetch went past it, and its client, told that it was inserted, may have sent the next command for its stream
    /// since. The older rows of the streams found (through the index of pending rows by stream) come first, so that a
    /// stream's commands run in inbox order even when the late row's notification is lost or not read yet.
    func fetch(_ partitions: [Int32], from start: Int64 = 0, limit: Int) async throws -> [Row] {
        let schema = self.schema
        let limit = Int64(limit)
        return try await store.withTrustedConnection { connection, logger in
            var rows: [Row] = []
            for row in try await connection.rows(
                """
                WITH fetched AS (
                    SELECT i.id, i.message_id, i.partition, i.stream_id, i.aggregate_type, i.payload
                    FROM (SELECT DISTINCT unnest(\(partitions)::integer[]) AS partition) AS p
                    CROSS JOIN LATERAL (
                        SELECT * FROM \(unescaped: schema).inbox
                        WHERE status = 0 AND partition = p.partition AND id >= \(start) ORDER BY id LIMIT \(limit)
                    ) AS i
                    ORDER BY i.id LIMIT \(limit)
                )
                SELECT * FROM fetched
                UNION ALL
                SELECT o.id, o.message_id, o.partition, o.stream_id, o.aggregate_type, o.payload
                FROM (SELECT DISTINCT stream_id FROM fetched WHERE \(start) > 0) AS s
                CROSS JOIN LATERAL (
                    SELECT * FROM \(unescaped: schema).inbox
                    WHERE status = 0 AND stream_id = s.stream_id AND id < \(start) ORDER BY id LIMIT \(limit)
                ) AS o
                WHERE o.partition = ANY(\(partitions)::integer[])
                ORDER BY 1
                """, logger: logger)
            {
                let (id, messageID, partition, streamID, type, payload) = try row.decode(
                    (Int64, UUID, Int32, String, String, ByteBuffer).self)
                rows.append(
                    Row(
                        id: id, messageID: MessageID(messageID), partition: partition, streamID: StreamID(streamID),
                        aggregateType: type, payload: Data(payload.readableBytesView)))
            }
            return rows
        }
    }

    /// Runs one batch of the pending commands of `owned` (partition to epoch); `fetched` learns which partitions
    /// the batch's commands are in, before they run.
    func runBatch(owned: [Int32: Int64], fetched: (Set<Int32>) -> Void = { _ in }) async throws -> BatchReport {
        var report = BatchReport()
        guard !owned.isEmpty else { return report }
        var start = cursor.withLock { $0.begin(owned: owned, now: .now) }
        let (narrowed, probeAfter) = refusals.withLock { ($0.limit, $0.probeAfter) }
        if let probeAfter { start = max(start, probeAfter + 1) }
        let limit = narrowed ?? configuration.maximumBatchSize
        // The fetch adds the older rows of the streams it finds, so `all` may hold more than the limit: the batch
        // takes the oldest, and the rest stay pending. A probe takes one row of a stream other than the refused
        // row's (whose later commands wait for it).
        let all = try await fetch(
            Array(owned.keys), from: start, limit: probeAfter == nil ? limit : configuration.maximumBatchSize)
        let refusedStream = probeAfter.flatMap { probed in all.first { $0.id == probed }?.streamID }
        let rows = Array(
            (probeAfter == nil ? all : all.filter { $0.id != probeAfter && $0.streamID != refusedStream }).prefix(limit))
        fetched(Set(rows.map(\.partition)))
        report.fetched = rows.count
        guard let last = all.last, !rows.isEmpty else {
            if probeAfter != nil { refusals.withLock { $0.probeFoundNothing() } }
            // An empty probe started past the refused row, which the next fetch takes again.
            cursor.withLock { $0.end(next: min(probeAfter ?? start, all.first?.id ?? start)) }
            return report
        }

        // Group by stream in order of first appearance; an isolated stream runs one command per batch.
        var order: [StreamID] = []
        var work: [StreamID: StreamWork] = [:]
        var rowsByStream: [StreamID: [Row]] = [:]
        let isolated = self.isolated.withLock { $0 }
        var malformed: [Completion] = []
        for row in rows {
            // A row written around the client: its stream id must be valid and filed under its own partition, or
            // the fence of another partition would guard its stream. It fails alone, and the batch goes on.
            if let problem = Self.problem(with: row, partitionCount: configuration.partitionCount) {
                let result = ClusterCommandResult(
                    messageID: row.messageID, outcome: .failed, streamVersion: 0, eventCount: 0,
                    reason: "\(ClusterError.Code.malformedCommand): \(problem)", state: nil, node: nodeID)
                malformed.append(Completion(row: row, result: result, epoch: owned[row.partition] ?? 0))
                continue
            }
            if rowsByStream[row.streamID] == nil {
                order.append(row.streamID)
                work[row.streamID] = StreamWork(streamID: row.streamID, partition: row.partition)
            }
            if isolated.contains(row.streamID), !(rowsByStream[row.streamID]?.isEmpty ?? true) { continue }
            rowsByStream[row.streamID, default: []].append(row)
        }
        for streamID in order {
            guard var stream = work[streamID], let streamRows = rowsByStream[streamID],
                let epoch = owned[stream.partition]
            else { continue }
            try await decide(&stream, rows: streamRows, epoch: epoch)
            work[streamID] = stream
        }
        // The batch is one message to the database: it takes the streams that fit, in order, and leaves the others'
        // rows pending. A stream whose commands fit only one by one runs one per batch from now on.
        var kept: [StreamID] = []
        var batchBytes = 0
        for streamID in order {
            guard let stream = work[streamID] else { continue }
            if stream.bytes > configuration.maximumBatchBytes {
                self.isolated.withLock { _ = $0.insert(streamID) }
                continue
            }
            guard batchBytes + stream.bytes <= configuration.maximumBatchBytes else { break }
            kept.append(streamID)
            batchBytes += stream.bytes
        }
        let batchRows = (malformed.map(\.row) + kept.flatMap { rowsByStream[$0] ?? [] }).sorted { $0.id < $1.id }

        let involved = Set(batchRows.map(\.partition))
        let fence = involved.sorted().map { ($0, owned[$0]!) }
        let streams = kept.compactMap { work[$0] }
        do {
            let outcome: CommitOutcome
            var appended = false
            do {
                outcome = try await commit(streams, malformed: malformed, fence: fence)
                appended = streams.contains { !$0.events.isEmpty && !outcome.failedStreams.contains($0.streamID) }
            } catch where Self.isRefusal(error) {
                outcome = try await narrow(batchRows, refusedWith: error, fence: fence)
            }
            refusals.withLock { $0.committed(size: configuration.maximumBatchSize, appended: appended) }
            report.completed = outcome.completed
            cache.withLock { cache in
                for stream in streams {
                    if outcome.failedStreams.contains(stream.streamID) {
                        cache[stream.streamID] = nil
                    } else if let final = stream.finalState {
                        cache[stream.streamID] = final
                    }
                }
                if cache.count > configuration.maximumCachedStates { cache = [:] }
            }
            self.isolated.withLock { set in
                for stream in streams where !outcome.isolate.contains(stream.streamID) { set.remove(stream.streamID) }
                set.formUnion(outcome.isolate)
            }
            metrics.commandsRun.increment(by: Int64(outcome.completed))
            // The next fetch starts at the first row that is still pending: one left out of this batch (a stream
            // run one command at a time, a row past the limit) or taken back (a failed append), else the row after
            // the last one.
            var recorded = Set(batchRows.map(\.id))
            recorded.subtract(outcome.withdrawn)
            let next = all.first { !recorded.contains($0.id) }?.id ?? last.id + 1
            cursor.withLock { $0.end(next: next) }
            // A probe past a refused row committed: that row is fetched again at once, and now fails alone.
            if let probeAfter { cursor.withLock { $0.lower(to: probeAfter) } }
        } catch let rejection as FenceRejection {
            clearCache()
            report.fenceRejected = true
            report.lostPartitions = rejection.lost.keys.sorted()
            metrics.fenceRejections.increment()
            configuration.logger.warning(
                "fence rejected a batch: partitions were taken over",
                metadata: [
                    "node": "\(nodeID)", "partitions": "\(report.lostPartitions)",
                    "commands": "\(batchRows.count)",
                ])
            await recordRejection(rejection.lost)
            throw rejection
        } catch {
            clearCache()
            throw error
        }
        return report
    }

    /// After the database refused a batch's commit: takes fewer rows next time, down to the one it refuses, and
    /// fails that one alone once it is clear that the database refuses it and takes others (``BatchRefusals``).
    ///
    /// - Returns: the outcome of the lone row's failure, when that was committed.
    /// - Throws: `error` while the batch is narrowed down (its commands stay pending), or the failure's own commit
    ///   error.
    private func narrow(_ rows: [Row], refusedWith error: any Error, fence: [(Int32, Int64)]) async throws
        -> CommitOutcome
    {
        let step = refusals.withLock { $0.refused(rows.map(\.id)) }
        guard step == .failAlone, let row = rows.first else {
            configuration.logger.warning(
                "the database refused a batch; it runs in smaller ones until the refused command is found",
                metadata: ["node": "\(nodeID)", "commands": "\(rows.count)", "error": "\(error)"])
            throw error
        }
        configuration.logger.warning(
            "the database refuses a command and takes others; it fails alone",
            metadata: ["node": "\(nodeID)", "message": "\(row.messageID)", "error": "\(error)"])
        let result = ClusterCommandResult(
            messageID: row.messageID, outcome: .failed, streamVersion: 0, eventCount: 0,
            reason: "\(ClusterError.Code.commandFailed): the database refused it: \(error)", state: nil, node: nodeID)
        let epoch = fence.first { $0.0 == row.partition }?.1 ?? 0
        let failure = Completion(row: row, result: result, epoch: epoch)
        var outcome = try await commit([], malformed: [failure], fence: fence)
        outcome.failedStreams.insert(row.streamID)
        return outcome
    }

    /// Whether a commit failed because the database refused what it was asked to store, not because it could not
    /// be reached, lacked resources, rolled the transaction back for a conflict, or was being changed: a check of
    /// the store's (`invalidArgument`), or an error of SQLSTATE class 22 (a value out of range or too long), 23 (a
    /// constraint), 54 (a program limit, such as a value over 1 GB) or P0 (an exception a trigger raised).
    static func isRefusal(_ error: any Error) -> Bool {
        guard let error = error as? EventStoreError else { return false }
        switch error.code {
        case .invalidArgument:
            return true
        case .storageFailure:
            guard let cause = error.underlyingError as? PostgresServerError else { return false }
            return ["22", "23", "54", "P0"].contains(cause.sqlState.prefix(2))
        default:
            return false
        }
    }

    /// Decides a stream's commands in order, from its cached or freshly loaded state.
    private func decide(_ stream: inout StreamWork, rows: [Row], epoch: Int64) async throws {
        stream.rowCount = rows.count
        var current: CachedState? = cache.withLock { $0[stream.streamID] }.flatMap { $0.epoch == epoch ? $0 : nil }
        var loadFailure: String? = nil
        stream.startVersion = current?.version ?? 0
        var loaded = current != nil
        let partition = stream.partition
        for row in rows {
            func complete(_ outcome: ClusterCommandResult.Outcome, reason: String?, events: Int = 0, state: Data? = nil) {
                stream.completions.append(
                    Completion(
                        row: row,
                        result: ClusterCommandResult(
                            messageID: row.messageID, outcome: outcome, streamVersion: current?.version ?? 0,
                            eventCount: events, reason: reason, state: state, node: nodeID),
                        epoch: epoch))
            }
            guard let registered = aggregates[row.aggregateType] else {
                complete(
                    .failed,
                    reason: "\(ClusterError.Code.unregisteredAggregate): no aggregate type '\(row.aggregateType)' is "
                        + "registered on node \(nodeID)")
                continue
            }
            if !loaded {
                loaded = true
                do {
                    current = try await load(stream.streamID, as: registered, partition: partition, epoch: epoch)
                    stream.startVersion = current?.version ?? 0
                } catch let error as ClusterError {
                    loadFailure = error.message
                }
            }
            if let loadFailure {
                complete(.failed, reason: "the stream's events do not load: \(loadFailure)")
                continue
            }
            guard let state = current, state.aggregateType == row.aggregateType else {
                complete(
                    .failed,
                    reason: "stream '\(row.streamID)' holds a \(current?.aggregateType ?? "?") aggregate, not a "
                        + "\(row.aggregateType)")
                continue
            }
            switch registered.decide(row.payload, state.state) {
            case .rejected(let reason):
                complete(.rejected, reason: reason)
            case .malformed(let reason):
                complete(.failed, reason: "\(ClusterError.Code.malformedCommand): \(reason)")
            case .accepted(let events, let next, let json):
                let metadata = Data(
                    "{\"epoch\":\(epoch),\"messageID\":\"\(row.messageID)\",\"node\":\"\(nodeID)\",\"partition\":\(partition)}"
                        .utf8)
                let data = events.enumerated().map { index, event in
                    EventData(
                        eventID: Self.eventID(for: row.messageID, index: index), eventType: event.type,
                        schemaVersion: event.schemaVersion, data: event.data, metadata: metadata)
                }
                // Checked here, as the store would: the batch's statement is sent only when all of it is valid.
                do {
                    try EventStoreValidation.validateAppend(
                        data, to: stream.streamID, maximumPayloadBytes: store.configuration.maximumPayloadBytes)
                } catch {
                    complete(.failed, reason: "\(ClusterError.Code.commandFailed): \(error.message)")
                    continue
                }
                let bytes = data.reduce(json.count) { sum, event in
                    sum + event.data.count + event.metadata.count + event.eventType.utf8.count + 64
                }
                guard bytes <= configuration.maximumBatchBytes else {
                    complete(
                        .failed,
                        reason: "\(ClusterError.Code.commandFailed): its events and result hold \(bytes) bytes; a batch "
                            + "holds at most \(configuration.maximumBatchBytes) (maximumBatchBytes)")
                    continue
                }
                stream.bytes += bytes
                stream.events += data
                current = CachedState(
                    aggregateType: state.aggregateType, version: state.version + UInt64(events.count), state: next,
                    partition: partition, epoch: epoch)
                complete(.accepted, reason: nil, events: events.count, state: json)
            }
        }
        stream.finalState = current
    }

    /// What is wrong with an inbox row's stream id or partition, or `nil`.
    static func problem(with row: Row, partitionCount: Int) -> String? {
        do {
            try row.streamID.validate()
        } catch {
            return "the inbox row's stream id is invalid: \(error.message)"
        }
        let partition = StableHash.partition(of: row.streamID, count: partitionCount)
        guard partition == Int(row.partition) else {
            return "the inbox row files stream '\(row.streamID)' under partition \(row.partition), not its own \(partition)"
        }
        return nil
    }

    /// Loads a stream's state from the store.
    private func load(_ streamID: StreamID, as registered: RegisteredAggregate, partition: Int32, epoch: Int64)
        async throws
        -> CachedState
    {
        var state = registered.initialState()
        var version: UInt64 = 0
        let page = 4096
        while true {
            let events = try await store.readStream(streamID, from: version + 1, direction: .forwards, limit: page)
            state = try registered.fold(state, events)
            version = events.last?.streamVersion ?? version
            if events.count < page { break }
        }
        return CachedState(
            aggregateType: registered.name, version: version, state: state, partition: partition, epoch: epoch)
    }

    private struct CommitOutcome {
        var completed = 0
        var failedStreams: Set<StreamID> = []
        var isolate: Set<StreamID> = []
        /// Rows whose results were taken back after their stream's append failed: still pending.
        var withdrawn: [Int64] = []
    }

    struct FenceRejection: Error {
        var lost: [Int32: Int64]
    }

    /// Commits a batch as one statement (``ClusterSchema/commitFunction(_:appendFunction:)``): the fence, the
    /// results, the appends, and the results of streams whose append was refused taken back.
    private func commit(_ streams: [StreamWork], malformed: [Completion], fence: [(Int32, Int64)]) async throws
        -> CommitOutcome
    {
        var results = ResultRows(form: resultForm.withLock { $0 })
        for stream in streams {
            for completion in stream.completions { try results.add(completion) }
        }
        for completion in malformed { try results.add(completion) }
        var appends: [PostgresStoreAppend] = []
        var appendStreams: [Int] = []
        var appendRows: [Int32] = []
        var appendRowIDs: [Int64] = []
        for (index, stream) in streams.enumerated() where !stream.events.isEmpty {
            appends.append(
                PostgresStoreAppend(stream.events, to: stream.streamID, expectedVersion: .exact(stream.startVersion)))
            appendStreams.append(index)
            appendRows.append(Int32(stream.completions.count))
            appendRowIDs += stream.completions.map(\.row.id)
        }

        var arguments = PostgresBindings(capacity: 12)
        arguments.append(member)
        arguments.append(fence.map(\.0))
        arguments.append(fence.map(\.1))
        arguments.append(nodeID)
        arguments.append(channel)
        arguments.append(Int32(Self.notificationLimit))
        arguments.append(results.ids)
        arguments.append(results.statuses)
        arguments.append(results.outcomes)
        arguments.append(results.epochs)
        arguments.append(appendRows)
        arguments.append(appendRowIDs)
        let call = PostgresAppendCall(
            function: "\(schema).commit_batch", arguments: arguments, procedure: "\(schema).commit_batch_committed",
            fenced: true)
        guard case .appended(let appended) = try await store.append(appends, through: call) else {
            throw FenceRejection(lost: await lost(fence))
        }

        var outcome = CommitOutcome()
        var corrected = ResultRows(form: resultForm.withLock { $0 })
        for (index, result) in zip(appendStreams, appended) {
            guard case .failure(let failure) = result else { continue }
            let stream = streams[index]
            outcome.failedStreams.insert(stream.streamID)
            // Its results were taken back. Not a version conflict: the events themselves are refused (an event id
            // stored elsewhere). Alone, the command fails; with others, the stream runs one command per batch until
            // the culprit is found. Otherwise its commands stay pending and run again on the stream's current state.
            let accepted = stream.completions.filter { $0.result.outcome == .accepted }
            if failure.code != .wrongExpectedVersion, stream.rowCount == 1, var only = accepted.first {
                only.result.outcome = .failed
                only.result.reason = "\(ClusterError.Code.commandFailed): \(failure.message)"
                // The version the stream stays at, not the one its refused events would have given it.
                only.result.streamVersion = stream.startVersion
                only.result.eventCount = 0
                only.result.state = nil
                try corrected.add(only)
            } else {
                if failure.code != .wrongExpectedVersion { outcome.isolate.insert(stream.streamID) }
                outcome.withdrawn += stream.completions.map(\.row.id)
            }
        }
        if !corrected.ids.isEmpty {
            // Rare: a second, fenced transaction records the failures; until it commits the rows stay pending.
            let corrected = corrected
            let bounds = TransactionBounds(store: store.configuration, cluster: configuration)
            try await store.withTrustedTransaction { transaction in
                try await bounds.apply(on: transaction.connection, logger: transaction.logger)
                try await self.checkFence(fence, on: transaction.connection, logger: transaction.logger)
                try await self.record(corrected, on: transaction.connection, logger: transaction.logger)
            }
        }
        outcome.completed = results.ids.count - outcome.withdrawn.count
        return outcome
    }

    /// Locks the fence's partitions `FOR KEY SHARE` in the transaction of `connection`, or throws
    /// ``FenceRejection`` when one of them is no longer this member's at its epoch.
    private func checkFence(_ fence: [(Int32, Int64)], on connection: PostgresConnection, logger: Logger) async throws {
        let held = try await held(fence, on: connection, logger: logger, locking: true)
        guard held.count == fence.count else {
            throw FenceRejection(lost: Dictionary(uniqueKeysWithValues: fence.filter { !held.contains($0.0) }))
        }
    }

    /// The partitions of a refused fence that are no longer this member's at their epoch; all of them when the
    /// database cannot say.
    private func lost(_ fence: [(Int32, Int64)]) async -> [Int32: Int64] {
        let held = try? await store.withTrustedConnection { connection, logger in
            try await self.held(fence, on: connection, logger: logger, locking: false)
        }
        let lost = fence.filter { !(held ?? []).contains($0.0) }
        return Dictionary(uniqueKeysWithValues: lost.isEmpty ? fence : lost)
    }

    /// The partitions of `fence` still this member's at their epoch, locked `FOR KEY SHARE` when `locking`.
    private func held(_ fence: [(Int32, Int64)], on connection: PostgresConnection, logger: Logger, locking: Bool)
        async throws -> Set<Int32>
    {
        var held: Set<Int32> = []
        for partition in try await connection.rows(
            """
            SELECT p.partition FROM \(unescaped: schema).partitions p
            JOIN unnest(\(fence.map(\.0))::integer[], \(fence.map(\.1))::bigint[]) AS f(partition, epoch)
            ON p.partition = f.partition AND p.epoch = f.epoch
            WHERE p.owner = \(member) \(unescaped: locking ? "FOR KEY SHARE OF p" : "")
            """, decoding: Int32.self, logger: logger
        ) {
            held.insert(partition)
        }
        return held
    }

    /// The results of a batch's rows, as the arrays the update binds.
    private struct ResultRows {
        var ids: [Int64] = []
        var statuses: [Int32] = []
        var outcomes: [ByteBuffer] = []
        var epochs: [Int64] = []

        let form: ClusterCommandResult.StoredForm

        init(form: ClusterCommandResult.StoredForm) { self.form = form }

        mutating func add(_ completion: Completion) throws {
            ids.append(completion.row.id)
            statuses.append(Int32(completion.result.status))
            outcomes.append(try completion.result.stored(as: form))
            epochs.append(completion.epoch)
        }
    }

    /// Writes the results of rows that must still be pending onto them, and notifies the rows' ids, as
    /// ``ClusterSchema/commitFunction(_:appendFunction:)`` does.
    private func record(_ results: ResultRows, on connection: PostgresConnection, logger: Logger) async throws {
        let (schema, channel, nodeID) = (self.schema, self.channel, self.nodeID)
        let (ids, statuses, outcomes, epochs) = (results.ids, results.statuses, results.outcomes, results.epochs)
        var updated: Int64 = 0
        for (count, _) in try await connection.rows(
            """
            WITH done AS (
                UPDATE \(unescaped: schema).inbox AS i
                SET status = u.status, outcome = u.outcome, node_id = \(nodeID), epoch = u.epoch, done_at = now()
                FROM unnest(\(ids)::bigint[], \(statuses)::integer[], \(outcomes)::bytea[], \(epochs)::bigint[])
                    AS u(id, status, outcome, epoch)
                WHERE i.id = u.id AND i.status = 0
                RETURNING i.id
            )
            SELECT count(*)::bigint, pg_notify(\(channel),
                CASE WHEN sum(length(id::text) + 1) < \(Int64(Self.notificationLimit))
                THEN 'd' || string_agg(id::text, ',') ELSE 'd' END)::text
            FROM done
            """, decoding: (Int64, String?).self, logger: logger
        ) {
            updated = count
        }
        guard updated == Int64(ids.count) else {
            throw ClusterError(
                .commandFailed,
                message: "\(Int64(ids.count) - updated) of \(ids.count) inbox rows were no longer pending; "
                    + "the batch was rolled back")
        }
    }

    /// The longest list of row ids a results notification carries (PostgreSQL's payloads end at 8,000 bytes).
    static let notificationLimit = 7_900

    /// Records a fence rejection for operators and tests; best effort, after the rejected transaction rolled back.
    private func recordRejection(_ lost: [Int32: Int64]) async {
        let schema = self.schema
        let nodeID = self.nodeID
        let partitions = Array(lost.keys)
        let epochs = partitions.map { lost[$0]! }
        do {
            _ = try await store.withTrustedConnection { connection, logger in
                try await connection.run(
                    """
                    INSERT INTO \(unescaped: schema).fence_rejections (node_id, partition, epoch)
                    SELECT \(nodeID), p, e FROM unnest(\(partitions)::integer[], \(epochs)::bigint[]) AS f(p, e)
                    """, logger: logger)
            }
        } catch {
            configuration.logger.debug("could not record a fence rejection", metadata: ["error": "\(error)"])
        }
    }

    /// The id of a command's `index`th event: derived from the command's id, so that a second run of the same
    /// command could never store its events as new ones.
    ///
    /// The first event's id is the command's with its high half changed, as in earlier versions (a result they
    /// stored still names its events). The others are hashed from the command's id and the index: message ids made
    /// one after another differ by one in their low half, so a sum there would give one command's second event the
    /// id of the next command's first.
    static func eventID(for command: MessageID, index: Int) -> MessageID {
        guard index > 0 else { return MessageID(high: command.high ^ 0x9E37_79B9_7F4A_7C15, low: command.low) }
        return MessageID(derivedFrom: command, step: "event \(index)")
    }
}
