import Foundation
import Logging
import PostgresNIO
import Synchronization
import Whizbang

/// Group commit: folds the appends pending at a time into one call of the append function, one round trip and one
/// transaction, then resumes their callers.
///
/// One batch is in flight at a time; appends that arrive meanwhile queue for the next one, so the busier the store,
/// the larger the batches. Each batch runs within the store's request deadline: a batch that misses it, or whose
/// connection is lost, fails its callers with `EventStoreError/Code/unavailable` and has its connection closed; the
/// appends queued behind it for a deadline already fail with it, and the writer goes on with the next batch. An
/// append still queued a deadline after it was submitted (behind batches that each commit, but slowly) fails with
/// `unavailable` too, unsent. So no append waits for more than about two deadlines. Closing fails the queued appends and the one in flight with
/// `EventStoreError/Code/closed` at once (an append already sent may still commit: as after a lost connection, a
/// retry with the same event ids and expected version tells).
final class PostgresWriter: Sendable {
    struct Request {
        var events: [EventData]
        var streamID: StreamID
        var expectedVersion: ExpectedVersion
        var bytes: Int
        var continuation: UnsafeContinuation<AppendResult, any Error>
        /// When the append was queued.
        var queuedAt = ContinuousClock.now
    }

    private struct State {
        var queue: [Request] = []
        var inFlight: [Request]? = nil
        var parked: UnsafeContinuation<Void, Never>? = nil
        var finished: EventStoreError? = nil
    }

    private let state = Mutex(State())
    private let runner: PostgresRequestRunner
    private let signal: AppendSignal
    private let readModels: PostgresReadModels
    private let tables: StoreTables
    private let maximumBatchSize: Int
    private let maximumBatchBytes: Int
    private let requestTimeout: Duration
    private let logger: Logger

    init(
        runner: PostgresRequestRunner, signal: AppendSignal, readModels: PostgresReadModels, tables: StoreTables,
        configuration: PostgresEventStore.Configuration
    ) {
        self.tables = tables
        self.runner = runner
        self.signal = signal
        self.readModels = readModels
        self.maximumBatchSize = configuration.maximumBatchSize
        self.maximumBatchBytes = configuration.maximumBatchBytes
        self.requestTimeout = configuration.requestTimeout
        self.logger = configuration.logger
    }

    /// Queues an append for the next group commit, or fails it at once when the writer has finished.
    func submit(_ request: Request) {
        enum Action { case none, wake(UnsafeContinuation<Void, Never>), fail(EventStoreError) }
        let action = state.withLock { state -> Action in
            if let error = state.finished { return .fail(error) }
            state.queue.append(request)
            guard let parked = state.parked else { return .none }
            state.parked = nil
            return .wake(parked)
        }
        switch action {
        case .none: break
        case .wake(let parked): parked.resume()
        case .fail(let error): request.continuation.resume(throwing: error)
        }
    }

    /// Fails every queued and in-flight append with `error`, and every later one; the writer's ``run()`` returns.
    func finish(with error: EventStoreError) {
        let (requests, parked) = state.withLock { state -> ([Request], UnsafeContinuation<Void, Never>?) in
            guard state.finished == nil else { return ([], nil) }
            state.finished = error
            defer {
                state.queue = []
                state.inFlight = nil
                state.parked = nil
            }
            return (state.queue + (state.inFlight ?? []), state.parked)
        }
        for request in requests { request.continuation.resume(throwing: error) }
        parked?.resume()
    }

    /// Commits batches until the writer finishes or the task is cancelled.
    func run() async {
        while let batch = await nextBatch() {
            await commit(batch)
        }
    }

    /// The next batch, marked in flight: the oldest queued appends up to the batch limits. `nil` once finished.
    private func nextBatch() async -> [Request]? {
        while true {
            enum Next { case batch([Request]), finished, park }
            let now = ContinuousClock.now
            var expired: [Request] = []
            let next = state.withLock { state -> Next in
                if state.finished != nil { return .finished }
                // Queued in order: the appends that waited a deadline in the queue are at its front.
                let stale = state.queue.prefix { now - $0.queuedAt >= requestTimeout }.count
                if stale > 0 {
                    expired = Array(state.queue.prefix(stale))
                    state.queue.removeFirst(stale)
                }
                guard !state.queue.isEmpty else { return .park }
                var count = 0
                var bytes = 0
                for request in state.queue {
                    if count == maximumBatchSize || (count > 0 && bytes + request.bytes > maximumBatchBytes) { break }
                    count += 1
                    bytes += request.bytes
                }
                let batch = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                state.inFlight = batch
                return .batch(batch)
            }
            if !expired.isEmpty {
                let error = EventStoreError(
                    .unavailable,
                    message: "the append waited \(requestTimeout) for the batches before it and was not sent; "
                        + "nothing of it was written: try again")
                for request in expired { request.continuation.resume(throwing: error) }
            }
            switch next {
            case .batch(let batch): return batch
            case .finished: return nil
            case .park:
                if Task.isCancelled { return nil }
                await withTaskCancellationHandler {
                    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                        let wakeNow = state.withLock { state -> Bool in
                            if state.finished != nil || !state.queue.isEmpty || Task.isCancelled { return true }
                            state.parked = continuation
                            return false
                        }
                        if wakeNow { continuation.resume() }
                    }
                } onCancel: {
                    let parked = state.withLock { state in
                        defer { state.parked = nil }
                        return state.parked
                    }
                    parked?.resume()
                }
                if Task.isCancelled { return nil }
            }
        }
    }

    /// Runs one batch and resumes its callers, unless closing has failed them meanwhile.
    ///
    /// With inline read models the batch is one transaction: the append function, then the read models' fold. When
    /// a projection refuses the events of some appends, the transaction rolls back, those appends fail with
    /// `EventStoreError/Code/inlineProjectionFailed`, and the others are committed in a new transaction.
    private func commit(_ batch: [Request]) async {
        // After the callers have their answers: an append that found the store's tables gone closes the store.
        defer { tables.closeIfReplaced() }
        var outcomes: [Result<AppendResult, EventStoreError>?] = Array(repeating: nil, count: batch.count)
        var pending = Array(batch.indices)
        var head: UInt64 = 0
        var unreachable: EventStoreError? = nil
        while !pending.isEmpty {
            do {
                let rows = try await append(batch, pending)
                for (index, row) in zip(pending, rows) {
                    let outcome = Self.outcome(of: batch[index], row: row)
                    if case .success(let result) = outcome, !result.positions.isEmpty {
                        head = max(head, result.positions.upperBound - 1)
                    }
                    outcomes[index] = outcome
                }
                pending = []
            } catch let refusal as PostgresReadModels.Refusal {
                for (offset, message) in refusal.failures {
                    let request = batch[pending[offset]]
                    outcomes[pending[offset]] = .failure(
                        EventStoreError(
                            .inlineProjectionFailed, streamID: request.streamID,
                            message: "an inline read model refused the append: \(message)"))
                }
                pending = pending.enumerated().filter { refusal.failures[$0.offset] == nil }.map(\.element)
            } catch {
                let failure = runner.failure(error, closed: state.withLock { $0.finished != nil })
                logger.debug("group commit failed", metadata: ["appends": "\(pending.count)", "error": "\(failure)"])
                for index in pending { outcomes[index] = .failure(failure) }
                pending = []
                if failure.code == .unavailable { unreachable = failure }
            }
        }
        // Waiters learn of the new head before the appenders return, so an appender that then waits sees it.
        if head > 0 {
            signal.advance(to: head)
            if readModels.hasInline { readModels.noteChange() }
        }
        let stillOwned = state.withLock { state -> Bool in
            defer { state.inFlight = nil }
            return state.inFlight != nil
        }
        guard stillOwned else { return }
        for (request, outcome) in zip(batch, outcomes) {
            request.continuation.resume(with: outcome!.mapError { $0 as any Error })
        }
        // Behind a batch that could not reach the server, or waited out its deadline, each queued append would wait
        // for a deadline of its own batch in turn, many deadlines for the last: those queued for a deadline already
        // fail with it (`unavailable` is for trying again), and the others have one batch left to wait for.
        if let unreachable {
            let now = ContinuousClock.now
            let expired = state.withLock { state in
                let expired = state.queue.filter { now - $0.queuedAt >= requestTimeout }
                state.queue.removeAll { now - $0.queuedAt >= requestTimeout }
                return expired
            }
            for request in expired { request.continuation.resume(throwing: unreachable) }
        }
    }

    /// Appends the requests at `pending` in one call of the append function and, with inline read models, folds
    /// what it inserted into them in the same transaction; returns the function's rows, one per pending request.
    ///
    /// The rows count only once the appends have committed: PostgresNIO hands over a statement's rows when the
    /// statement completes, and a statement run alone commits only after that, at the end of the exchange. A commit
    /// that then fails (a deferred constraint, or a server stopped at that moment, which sends what it had queued
    /// before it exits) would have left the rows reporting appends that were never made. So the function is called
    /// by the schema's procedure that commits before it answers (one round trip), or, with inline read models, in a
    /// transaction of its own whose `COMMIT` answers once the commit is durable.
    ///
    /// - Throws: ``PostgresReadModels/Refusal`` (with offsets into `pending`) when a projection refused some of
    ///   the events; the transaction is then rolled back.
    private func append(_ batch: [Request], _ pending: [Int]) async throws -> [PostgresStatements.AppendBatch.Row] {
        var statement = PostgresStatements.AppendBatch(tables: tables.current)
        for index in pending {
            let request = batch[index]
            statement.add(request.events, to: request.streamID, expectedVersion: request.expectedVersion)
        }
        let logger = self.logger
        let readModels = self.readModels
        let batchStatement = statement
        let refusal = Mutex<PostgresReadModels.Refusal?>(nil)
        let appended = pending.map { batch[$0].events }
        let streamIDs = pending.map { batch[$0].streamID }
        do {
            if !readModels.hasInline {
                let committed = PostgresStatements.CommittedAppendBatch(batch: batchStatement)
                let tables = self.tables
                return try await runner.withConnection { connection in
                    let rows = try await tables.fenced { try await connection.rows(of: committed, logger: logger) }
                        .first ?? []
                    try PostgresStatements.AppendBatch.check(rows, eventCounts: appended.map(\.count))
                    return rows
                }
            }
            let tables = self.tables
            return try await runner.withConnection { connection in
                try await connection.withStoreTransaction(logger: logger) {
                    let rows = try await tables.fenced { try await connection.rows(of: batchStatement, logger: logger) }
                    try PostgresStatements.AppendBatch.check(rows, eventCounts: appended.map(\.count))
                    guard readModels.hasInline else { return rows }
                    do {
                        try await readModels.applyInline(on: connection) { now in
                            zip(zip(appended, streamIDs), rows).map { append, row in
                                Self.recordedEvents(append.0, streamID: append.1, row: row, recordedAt: now)
                            }
                        }
                    } catch let error as PostgresReadModels.Refusal {
                        refusal.withLock { $0 = error }
                        throw error
                    }
                    return rows
                }
            }
        } catch {
            if let error = refusal.withLock({ $0 }) { throw error }
            throw error
        }
    }

    /// The events an append inserted, as the log records them; none for an append that failed or only matched a
    /// retry.
    static func recordedEvents(
        _ events: [EventData], streamID: StreamID, row: PostgresStatements.AppendBatch.Row, recordedAt: Date
    ) -> [RecordedEvent] {
        guard row.status == .committed, row.inserted else { return [] }
        let firstVersion = UInt64(row.streamVersion) - UInt64(events.count) + 1
        let firstPosition = UInt64(row.firstPosition)
        return events.enumerated().map { offset, event in
            RecordedEvent(
                streamID: streamID, streamVersion: firstVersion + UInt64(offset),
                position: firstPosition + UInt64(offset), eventID: event.eventID, eventType: event.eventType,
                schemaVersion: event.schemaVersion, data: event.data, metadata: event.metadata,
                recordedAt: recordedAt)
        }
    }

    private static func outcome(of request: Request, row: PostgresStatements.AppendBatch.Row)
        -> Result<AppendResult, EventStoreError>
    {
        let streamID = request.streamID
        guard let status = row.status else {
            return .failure(
                EventStoreError(.storageFailure, message: "the append function returned status \(row.rawStatus)"))
        }
        switch status {
        case .committed:
            let first = UInt64(row.firstPosition)
            return .success(
                AppendResult(
                    streamID: streamID, streamVersion: UInt64(row.streamVersion),
                    positions: first..<(first + UInt64(request.events.count))))
        case .wrongExpectedVersion:
            return .failure(
                .wrongExpectedVersion(streamID, expected: request.expectedVersion, actual: UInt64(row.streamVersion)))
        case .duplicateEventID:
            return .failure(
                EventStoreError(
                    .duplicateEventID, streamID: streamID,
                    message: "an event id of this append to '\(streamID)' is already stored at another place"))
        }
    }
}
