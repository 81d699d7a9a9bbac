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
/// No task of its own: the caller that finds no insert in flight runs the inserts, for itself and for whoever queued
/// meanwhile, until the queue is empty; the others wait for it, at most one statement's deadline per batch ahead. Each insert runs within the store's deadlines.
final class InboxInserter: Sendable {
    struct Request: Sendable {
        var messageID: MessageID
        var partition: Int32
        var streamID: String
        var aggregateType: String
        var payload: Data
    }

    private struct Waiting {
        var request: Request
        var continuation: CheckedContinuation<Int64?, any Error>
    }

    private struct State {
        var queue: [Waiting] = []
        var running = false
    }

    private let state = Mutex(State())

    /// How many inserts wait for the one in flight.
    var queuedCount: Int { state.withLock { $0.queue.count } }

    /// Whether an insert is in flight.
    var isInserting: Bool { state.withLock { $0.running } }
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
    func insert(_ request: Request) async throws -> Int64? {
        struct LeadInstead: Error {}
        while true {
            let lead = state.withLock { state -> Bool in
                if state.running { return false }
                state.running = true
                return true
            }
            if lead { return try await self.lead(with: request) }
            do {
                return try await withCheckedThrowingContinuation { continuation in
                    let queued = state.withLock { state -> Bool in
                        // The inserts in flight ended meanwhile: nobody would take this one; lead instead.
                        guard state.running else { return false }
                        state.queue.append(Waiting(request: request, continuation: continuation))
                        return true
                    }
                    if !queued { continuation.resume(throwing: LeadInstead()) }
                }
            } catch is LeadInstead {
                continue
            }
        }
    }

    /// Inserts `request` with whatever is queued, then the batches queued meanwhile, until the queue is empty.
    private func lead(with request: Request) async throws -> Int64? {
        var own: Result<Int64?, any Error>? = nil
        while true {
            let batch = state.withLock { state -> [Waiting] in
                let count = min(state.queue.count, maximumBatchSize - (own == nil ? 1 : 0))
                if count == 0 && own != nil { state.running = false }
                defer { state.queue.removeFirst(count) }
                return Array(state.queue.prefix(count))
            }
            if batch.isEmpty && own != nil { return try own!.get() }
            let requests = (own == nil ? [request] : []) + batch.map(\.request)
            do {
                let rows = try await insert(requests)
                let offset = own == nil ? 1 : 0
                if own == nil { own = .success(rows[0]) }
                for (index, waiting) in batch.enumerated() { waiting.continuation.resume(returning: rows[index + offset]) }
            } catch {
                if own == nil { own = .failure(error) }
                for waiting in batch { waiting.continuation.resume(throwing: error) }
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
