import Foundation
import WhizbangStore

/// Rebuilds the ledger from the whole log, in global order, decoding every event.
///
/// The log is read in position ranges of ``batchSize`` events, several at once (the store has a reader connection
/// per range in flight), and each range is decoded while the next ones are read — on an SQLite store straight from
/// the rows the store lends (``DecodedRange``), on others in a child task — and the decoded ranges are then applied
/// to one ``LedgerProjection`` strictly in order. Positions are dense in a Whizbang store, but a
/// range that meets a gap is still read completely: each read returns up to a batch of events after the range's
/// start, and only those inside the range are kept.
struct LedgerReplay {
    var batchSize = 8_192
    var readsInFlight = 4
    /// Also read each event's command id from its metadata (slower: every event's metadata is read).
    var collectCommandIDs = false
    /// The streams the log is expected to hold, if known: the projection reserves room for them at once instead of
    /// doubling its storage as it meets them.
    var expectedStreamCount = 0
    /// A position at which to record the projection's summary (see ``ProjectionRecord``), to compare with a saved one.
    var summaryPosition: UInt64?
    /// Stops the replay between batches once the process has received a stop signal: the caller then closes its store
    /// (removing the files a read made beside it) and exits with 128 + the signal's number.
    var stop: StopSignal?

    struct Result {
        var projection: LedgerProjection
        var seconds: Double
        var head: UInt64
        /// The projection's summary at ``LedgerReplay/summaryPosition``, if the log reached it.
        var summary: ProjectionRecord?
        var eventsPerSecond: Double { seconds > 0 ? Double(projection.eventCount) / seconds : 0 }
    }

    func run(
        _ store: some EventStore,
        progress: ((_ applied: Int, _ head: UInt64) -> Void)? = nil
    ) async throws -> Result {
        let start = ContinuousClock.now
        var result = try await pass(store, namingEveryEvent: false, progress: progress)
        // A stream first met after its first event could be named only by its key: on such a (broken) log the
        // replay is run again with every event's stream id, so that what it reports names the streams.
        if result.projection.unnamedStreamCount > 0 {
            result = try await pass(store, namingEveryEvent: true, progress: progress)
        }
        result.seconds = (ContinuousClock.now - start).seconds
        return result
    }

    private func pass(
        _ store: some EventStore, namingEveryEvent: Bool, progress: ((_ applied: Int, _ head: UInt64) -> Void)?
    ) async throws -> Result {
        let head = try await store.headPosition()
        let batch = UInt64(batchSize)
        let batchCount = Int((head + batch - 1) / batch)
        let collect = collectCommandIDs
        let limit = batchSize
        let read = Self.reader(of: store, collectCommandIDs: collect, namingEveryEvent: namingEveryEvent)
        var projection = LedgerProjection()
        projection.reserveCapacity(streams: expectedStreamCount)
        var summary: ProjectionRecord?
        if summaryPosition == 0 { summary = ProjectionRecord(projection) }
        let summaryPosition = self.summaryPosition ?? .max
        try await withThrowingTaskGroup(of: (Int, [DecodedEvent]).self) { group in
            func startBatch(_ index: Int) {
                let after = UInt64(index) * batch
                let end = min(after + batch, head)
                group.addTask { (index, try await read(after, limit, end)) }
            }
            var nextToStart = 0
            while nextToStart < min(batchCount, readsInFlight) {
                startBatch(nextToStart)
                nextToStart += 1
            }
            var ready: [Int: [DecodedEvent]] = [:]
            var nextToApply = 0
            var last: UInt64 = 0
            while nextToApply < batchCount, let (index, decoded) = try await group.next() {
                ready[index] = decoded
                while let decoded = ready.removeValue(forKey: nextToApply) {
                    for event in decoded {
                        projection.apply(event)
                        if event.position == summaryPosition { summary = ProjectionRecord(projection) }
                    }
                    last = decoded.last?.position ?? last
                    nextToApply += 1
                    if nextToStart < batchCount {
                        startBatch(nextToStart)
                        nextToStart += 1
                    }
                    progress?(projection.eventCount, head)
                    if let signal = stop?.received { throw StopSignal.stoppedReading(by: signal) }
                }
            }
            // The head read at the start is an event of the log: a replay that did not reach it read a log that
            // changed under it (replaced by a new run, say), and what it saw is no ledger.
            guard last == head else {
                throw SampleError.logRead(
                    "the log changed while it was read: it ended at position \(head) when the replay began, and the "
                        + "replay found its last event at \(last)")
            }
        }
        projection.finishTransferChecks()
        return Result(projection: projection, seconds: 0, head: head, summary: summary)
    }

    /// How the replay reads and decodes a range of the log: on an SQLite store from the rows the store lends,
    /// without a `RecordedEvent` per event (and with each stream's id only on its first event, unless
    /// `namingEveryEvent`; see ``DecodedRange``); on any other store through `readAll(after:limit:)`. Command ids,
    /// which are in the metadata, are read only when `collectCommandIDs`.
    static func reader(of store: some EventStore, collectCommandIDs: Bool, namingEveryEvent: Bool = false)
        -> @Sendable (_ after: UInt64, _ limit: Int, _ end: UInt64) async throws -> [DecodedEvent]
    {
        @Sendable func range(_ end: UInt64, _ limit: Int) -> DecodedRange {
            DecodedRange(
                end: end, capacity: limit, namingEveryEvent: namingEveryEvent, collectCommandIDs: collectCommandIDs)
        }
        if let store = store as? SQLiteEventStore {
            return { after, limit, end in
                try await store.reduceAll(after: after, limit: limit, into: range(end, limit)) { range, row in
                    try range.append(row)
                }.events
            }
        }
        if let store = store as? SQLiteReadOnlyEventStore {
            return { after, limit, end in
                try await store.reduceAll(after: after, limit: limit, into: range(end, limit)) { range, row in
                    try range.append(row)
                }.events
            }
        }
        return { after, limit, end in
            let events = try await store.readAll(after: after, limit: limit)
            return try decode(events, through: end, collectCommandIDs: collectCommandIDs)
        }
    }

    static func decode(_ events: [RecordedEvent], through end: UInt64, collectCommandIDs: Bool) throws
        -> [DecodedEvent]
    {
        var decoded: [DecodedEvent] = []
        decoded.reserveCapacity(events.count)
        for event in events where event.position <= end {
            let ledgerEvent: LedgerEvent
            do {
                ledgerEvent = try LedgerEvent.decode(event)
            } catch {
                throw SampleError.logRead(
                    "event at position \(event.position) (\(event.eventType) in \(event.streamID)) does not decode: "
                        + DecodingErrorText.describe(error))
            }
            // As ``DecodedRange`` reads it: metadata without a readable command id gives none.
            let messageID =
                collectCommandIDs && !event.metadata.isEmpty
                ? try? EnvelopeMetadata.messageID(inStoredForm: event.metadata) : nil
            decoded.append(
                DecodedEvent(
                    streamID: event.streamID, version: event.streamVersion, position: event.position,
                    event: ledgerEvent, messageID: messageID))
        }
        return decoded
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
