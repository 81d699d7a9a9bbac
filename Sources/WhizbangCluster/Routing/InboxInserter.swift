#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import PostgresNIO
import Synchronization
import Whizbang
import WhizbangPostgres

/// Group commit for the inbox: the inserts that arrive while one is in flight are folded into the next one, a single
/// multi-row `INSERT … ON CONFLICT DO NOTHING` with one notification (`a<lowest row id inserted>`), so a busy client
/// commits many commands per transaction and per flush of the write-ahead log, and every listener gets one message
/// per insert rather than one per partition.
///
/// The inserts run in a task of the inserter's, started when a request finds none running and ended when the queue
/// is empty, not in a caller's task: a caller returns as soon as the insert that holds its request has committed,
/// whatever others queued meanwhile, and a caller's cancellation ends its own wait (with `CancellationError`; its
/// request may have been inserted if its batch was in flight) and nobody else's. Each insert runs within the store's
/// deadlines, so a queued request waits at most one statement's deadline per batch ahead of it.
final class InboxInserter: Sendable {
    struct Request: Sendable {
        var messageID: MessageID
        var partition: Int32
        var streamID: String
        var aggregateType: String
        var payload: Data
    }

    private struct Waiting {
        var id: UInt64
        var request: Request
        var continuation: CheckedContinuation<Int64?, any Error>
        var deadline: ContinuousClock.Instant?
    }

    private struct State {
        var queue: [Waiting] = []
        /// The continuations of the requests in the insert in flight, by waiter id; a cancelled caller's is taken
        /// out, and the insert's end resumes the others.
        var inFlight: [UInt64: CheckedContinuation<Int64?, any Error>] = [:]
        /// The deadlines of the requests in flight that have one.
        var inFlightDeadlines: [UInt64: ContinuousClock.Instant] = [:]
        /// Whether the drain task runs.
        var running = false
        /// Whether a statement is in flight.
        var inserting = false
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// How many inserts wait for the one in flight.
    var queuedCount: Int { state.withLock { $0.queue.count } }

    /// Whether an insert is in flight.
    var isInserting: Bool { state.withLock { $0.inserting } }
    private let store: PostgresEventStore
    private let schema: String
    private let channel: String
    private let maximumBatchSize: Int

    init(store: PostgresEventStore, schema: String, channel: String, maximumBatchSize: Int) {
        self.store = store
        self.schema = schema
        self.channel = channel
        self.maximumBatchSize = maximumBatchSize
    }

    /// Inserts a command; returns its new inbox row, or `nil` when its message id was already in the inbox or was
    /// taken by another insert of the same batch.
    ///
    /// - Parameter deadline: when to stop waiting, if the insert has not answered by then.
    /// - Throws: the insert's error; `CancellationError` when the calling task is cancelled first, or
    ///   ``ClusterError/Code/timedOut`` at `deadline` (either way the request may have been inserted if its insert
    ///   was in flight).
    func insert(_ request: Request, until deadline: ContinuousClock.Instant? = nil) async throws -> Int64? {
        let id = state.withLock { state -> UInt64 in
            defer { state.nextID &+= 1 }
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let start = state.withLock { state -> Bool? in
                    // Cancelled before the request was queued: the handler below found nothing to end.
                    if Task.isCancelled { return nil }
                    state.queue.append(
                        Waiting(id: id, request: request, continuation: continuation, deadline: deadline))
                    if state.running { return false }
                    state.running = true
                    return true
                }
                switch start {
                case nil: continuation.resume(throwing: CancellationError())
                case true?: Task { await self.drain() }
                case false?: break
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Int64?, any Error>? in
                if let index = state.queue.firstIndex(where: { $0.id == id }) {
                    return state.queue.remove(at: index).continuation
                }
                state.inFlightDeadlines[id] = nil
                return state.inFlight.removeValue(forKey: id)
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    /// Inserts the queued requests, a batch at a time, until the queue is empty.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                guard !state.queue.isEmpty else {
                    state.running = false
                    state.inserting = false
                    return []
                }
                state.inserting = true
                let batch = Array(state.queue.prefix(maximumBatchSize))
                state.queue.removeFirst(batch.count)
                for waiting in batch {
                    state.inFlight[waiting.id] = waiting.continuation
                    state.inFlightDeadlines[waiting.id] = waiting.deadline
                }
                return batch
            }
            if batch.isEmpty { return }
            // One timer per insert, not per request: it ends the waits whose deadline passes meanwhile.
            let timer = Task { await self.expireWaits() }
            let outcome: Result<[Int: Int64], any Error>
            do {
                outcome = .success(try await insert(batch.map(\.request)))
            } catch {
                outcome = .failure(error)
            }
            timer.cancel()
            let waiting = state.withLock { state in
                batch.enumerated().compactMap { index, waiting in
                    state.inFlightDeadlines[waiting.id] = nil
                    return state.inFlight.removeValue(forKey: waiting.id).map { (index, $0) }
                }
            }
            for (index, continuation) in waiting {
                continuation.resume(with: outcome.map { $0[index] })
            }
        }
    }

    /// Until cancelled (when an insert ends), ends each wait, queued or in flight, whose deadline has passed, with
    /// ``ClusterError/Code/timedOut``: at the earliest deadline, looking again at least every 50 ms for requests
    /// queued meanwhile. An insert that answers within 50 ms costs no wake-up.
    private func expireWaits() async {
        while !Task.isCancelled {
            let next = state.withLock { state in
                (state.queue.compactMap(\.deadline) + state.inFlightDeadlines.values).min()
            }
            let look = ContinuousClock.now + .milliseconds(50)
            do { try await Task.sleep(until: min(next ?? look, look), clock: .continuous) } catch { return }
            let now = ContinuousClock.now
            let expired = state.withLock { state -> [CheckedContinuation<Int64?, any Error>] in
                var expired: [CheckedContinuation<Int64?, any Error>] = []
                state.queue.removeAll { waiting in
                    guard let deadline = waiting.deadline, deadline <= now else { return false }
                    expired.append(waiting.continuation)
                    return true
                }
                for (id, deadline) in state.inFlightDeadlines where deadline <= now {
                    state.inFlightDeadlines[id] = nil
                    if let continuation = state.inFlight.removeValue(forKey: id) { expired.append(continuation) }
                }
                return expired
            }
            for continuation in expired {
                continuation.resume(
                    throwing: ClusterError(
                        .timedOut,
                        message: "the insert of a command did not answer within its time limit; the command may or "
                            + "may not be in the inbox, and sending it again with the same message id is safe"))
            }
        }
    }

    /// Inserts `requests` in order; returns the new row of each request, by index, or `nil` for a request whose
    /// message id was in the inbox already, or came earlier in `requests` (the earlier one holds the id).
    private func insert(_ requests: [Request]) async throws -> [Int: Int64] {
        let schema = self.schema
        let channel = self.channel
        let ids = requests.map(\.messageID.uuid)
        let partitions = requests.map(\.partition)
        let streams = requests.map(\.streamID)
        let types = requests.map(\.aggregateType)
        let payloads = requests.map { ByteBuffer(bytes: $0.payload) }
        // A transaction of its own: the insert is the acknowledgement that the commands will run, so it counts only
        // once `COMMIT` has answered (a statement run alone reports its rows before its commit).
        let inserted = try await store.withTrustedConnection { connection, logger in
            try await connection.withStoreTransaction(logger: logger) {
                var rows: [MessageID: Int64] = [:]
                for (id, messageID, _) in try await connection.rows(
                    """
                    WITH inserted AS (
                        INSERT INTO \(unescaped: schema).inbox (message_id, partition, stream_id, aggregate_type, payload)
                        SELECT message_id, partition, stream_id, aggregate_type, payload
                        FROM unnest(\(ids)::uuid[], \(partitions)::integer[], \(streams)::text[], \(types)::text[],
                            \(payloads)::bytea[]) WITH ORDINALITY AS u(message_id, partition, stream_id, aggregate_type,
                            payload, n)
                        ORDER BY n
                        ON CONFLICT (message_id) DO NOTHING RETURNING id, message_id, partition
                    )
                    SELECT id, message_id,
                        (SELECT count(pg_notify(\(channel), 'a' || first))
                         FROM (SELECT min(id) AS first FROM inserted) AS f WHERE first IS NOT NULL)::bigint
                    FROM inserted
                    """, decoding: (Int64, UUID, Int64).self, logger: logger
                ) {
                    rows[MessageID(messageID)] = id
                }
                return rows
            }
        }
        // Rows are inserted in order, so of requests that share a message id the first took it.
        var rows: [Int: Int64] = [:]
        var taken = Set<MessageID>()
        for (index, request) in requests.enumerated() where taken.insert(request.messageID).inserted {
            rows[index] = inserted[request.messageID]
        }
        return rows
    }
}
