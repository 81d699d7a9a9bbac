#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The contents of an ``InMemoryEventStore`` and the rules that change them: a plain value, mutated under the store's
/// lock. It resumes nothing itself; the store announces new positions after the lock is released.
struct InMemoryEventStoreState: Sendable {
    /// The global log; the event at position `p` is at index `p - 1`.
    private var log = ChunkedLog<RecordedEvent>()
    /// For each stream, the log indices of its events; version `v` is at index `v - 1`.
    private var streams: [StreamID: [Int]] = [:]
    /// The log index of every stored event id (ids are unique across the store).
    private var eventIndices: [MessageID: Int] = [:]
    /// Keyed by the consumer name's UTF-8 bytes, as the other stores compare names.
    private var checkpoints: [UTF8Key: UInt64] = [:]
    private var snapshots: [StreamID: Snapshot] = [:]
    /// The read models' definitions and tables.
    private(set) var readModels = InMemoryReadModels()

    /// The position of the last event, 0 when the log is empty.
    var headPosition: UInt64 { UInt64(log.count) }

    /// The number of events in a stream.
    func version(of streamID: StreamID) -> UInt64 {
        UInt64(streams[streamID]?.count ?? 0)
    }

    // MARK: Appending

    /// Decides the append with ``AppendDecision``, then writes it; `events` are already validated.
    ///
    /// Returns the result and, when events were written, the new head position to announce.
    mutating func append(
        _ events: [EventData],
        to streamID: StreamID,
        expectedVersion: ExpectedVersion,
        recordedAt: Date,
        beforeCommit: ([RecordedEvent]) throws(EventStoreError) -> Void = { _ throws(EventStoreError) in }
    ) throws(EventStoreError) -> (result: AppendResult, newHead: UInt64?) {
        let head = headPosition
        let current: UInt64
        switch decide(events, to: streamID, expectedVersion: expectedVersion) {
        case .fail(let error):
            throw error
        case .resend(let result):
            return (result, nil)
        case .empty(let version):
            return (AppendResult(streamID: streamID, streamVersion: version, positions: head + 1..<head + 1), nil)
        case .write(let firstVersion):
            current = firstVersion - 1
        }
        for event in events where eventIndices[event.eventID] != nil {
            throw AppendDecision.duplicateEventID(event.eventID, appendingTo: streamID)
        }

        var recorded: [RecordedEvent] = []
        recorded.reserveCapacity(events.count)
        for (offset, event) in events.enumerated() {
            recorded.append(
                RecordedEvent(
                    streamID: streamID,
                    streamVersion: current + UInt64(offset) + 1,
                    position: head + UInt64(offset) + 1,
                    eventID: event.eventID,
                    eventType: event.eventType,
                    schemaVersion: event.schemaVersion,
                    data: event.data,
                    metadata: event.metadata,
                    recordedAt: recordedAt
                ))
        }
        let readModelChanges = try readModels.inlineChanges(for: recorded, streamID: streamID)
        try beforeCommit(recorded)
        // Appended in place: reserving exactly `count + n`, or copying the stream's index list out and back, would
        // copy the whole log or list on every append.
        let first = log.count
        log.append(contentsOf: recorded)
        streams[streamID, default: []].append(contentsOf: first..<log.count)
        for (offset, event) in events.enumerated() {
            eventIndices[event.eventID] = first + offset
        }
        readModels.apply(readModelChanges, position: headPosition)
        let result = AppendResult(
            streamID: streamID,
            streamVersion: current + UInt64(events.count),
            positions: head + 1..<headPosition + 1
        )
        return (result, headPosition)
    }

    /// The append's decision. Non-mutating on purpose: the lookup holds references to the log and indices only
    /// until this returns, so writing afterwards never copies them.
    private func decide(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion)
        -> AppendDecision
    {
        let indices = streams[streamID] ?? []
        var lookup = Lookup(log: log, eventIndices: eventIndices, streamID: streamID, indices: indices)
        return AppendDecision.decide(
            events, to: streamID, expectedVersion: expectedVersion, currentVersion: UInt64(indices.count),
            lookup: &lookup)
    }

    /// Answers the append rule's questions from the log.
    private struct Lookup: AppendDecisionLookup {
        let log: ChunkedLog<RecordedEvent>
        let eventIndices: [MessageID: Int]
        let streamID: StreamID
        let indices: [Int]

        func location(of eventID: MessageID) -> StoredEventLocation? {
            guard let index = eventIndices[eventID] else { return nil }
            let stored = log[index]
            return StoredEventLocation(
                isInAppendedStream: stored.streamID == streamID, streamVersion: stored.streamVersion)
        }

        func storedEvents(from version: UInt64, limit: Int) -> [StoredEventReference] {
            guard version >= 1, version <= UInt64(indices.count) else { return [] }
            let first = Int(version - 1)
            return indices[first..<first + min(limit, indices.count - first)].map { index in
                let event = log[index]
                return StoredEventReference(
                    streamVersion: event.streamVersion, position: event.position, eventID: event.eventID)
            }
        }
    }

    // MARK: Read models

    /// Registers read models and brings each up to the head of the log (see ``InMemoryReadModels``).
    mutating func registerReadModels(_ definitions: [ReadModelDefinition]) {
        readModels.register(definitions, log: log)
    }

    /// Brings the asynchronous read models up to the head of the log.
    mutating func catchUpAsyncReadModels() {
        readModels.catchUpAsync(log: log)
    }

    /// Rebuilds read model `name` from position 0 and swaps the new rows in.
    mutating func rebuildReadModel(named name: String) throws(ReadModelError) {
        readModels.rebuild(try readModels.definition(named: name), log: log)
    }

    // MARK: Reading

    /// The event stored under `eventID`, if any.
    func event(withID eventID: MessageID) -> RecordedEvent? {
        eventIndices[eventID].map { log[$0] }
    }

    /// Up to `limit` events of a stream from `version`; `limit` is not negative.
    func readStream(_ streamID: StreamID, from version: UInt64, direction: ReadDirection, limit: Int)
        -> [RecordedEvent]
    {
        guard let indices = streams[streamID], limit > 0 else { return [] }
        let count = UInt64(indices.count)
        switch direction {
        case .forwards:
            let start = max(version, 1)
            guard start <= count else { return [] }
            let first = Int(start - 1)
            let end = first + min(limit, indices.count - first)
            return indices[first..<end].map { log[$0] }
        case .backwards:
            guard version >= 1 else { return [] }
            let last = Int(min(version, count) - 1)
            let first = last - min(limit - 1, last)
            return indices[first...last].reversed().map { log[$0] }
        }
    }

    /// Up to `limit` events of the log after `position`; `limit` is not negative.
    func readAll(after position: UInt64, limit: Int) -> [RecordedEvent] {
        guard position < headPosition, limit > 0 else { return [] }
        let first = Int(position)
        return log.elements(in: first..<first + min(limit, log.count - first))
    }

    // MARK: Checkpoints and snapshots

    func checkpoint(for consumer: String) -> UInt64? {
        checkpoints[UTF8Key(consumer)]
    }

    mutating func saveCheckpoint(_ position: UInt64, for consumer: String) {
        checkpoints[UTF8Key(consumer)] = position
    }

    /// Keeps `snapshot` unless one with a higher stream version is already stored.
    mutating func saveSnapshot(_ snapshot: Snapshot) {
        if let latest = snapshots[snapshot.streamID], latest.streamVersion > snapshot.streamVersion { return }
        snapshots[snapshot.streamID] = snapshot
    }

    func latestSnapshot(for streamID: StreamID) -> Snapshot? {
        snapshots[streamID]
    }
}
