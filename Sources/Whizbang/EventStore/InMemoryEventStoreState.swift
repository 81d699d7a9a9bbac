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

    /// The position of the last event, 0 when the log is empty.
    var headPosition: UInt64 { UInt64(log.count) }

    /// The number of events in a stream.
    func version(of streamID: StreamID) -> UInt64 {
        UInt64(streams[streamID]?.count ?? 0)
    }

    // MARK: Appending

    /// Checks `expectedVersion` and idempotency, then appends; `events` are already validated.
    ///
    /// Returns the result and, when events were written, the new head position to announce.
    mutating func append(
        _ events: [EventData],
        to streamID: StreamID,
        expectedVersion: ExpectedVersion,
        recordedAt: Date,
        beforeCommit: ([RecordedEvent]) throws(EventStoreError) -> Void = { _ throws(EventStoreError) in }
    ) throws(EventStoreError) -> (result: AppendResult, newHead: UInt64?) {
        let current = version(of: streamID)
        switch expectedVersion {
        case .any:
            if let retry = try retryByEventID(events, to: streamID, expectedVersion: expectedVersion) {
                return (retry, nil)
            }
        case .streamExists:
            guard current > 0 else {
                throw .wrongExpectedVersion(streamID, expected: expectedVersion, actual: current)
            }
            if let retry = try retryByEventID(events, to: streamID, expectedVersion: expectedVersion) {
                return (retry, nil)
            }
        case .noStream, .exact:
            let expected: UInt64 = if case .exact(let version) = expectedVersion { version } else { 0 }
            if current < expected || (current > expected && events.isEmpty) {
                throw .wrongExpectedVersion(streamID, expected: expectedVersion, actual: current)
            }
            if current > expected {
                // The stream moved on: either this is a retry of events stored right after `expected`, or a conflict.
                let retry = try retry(
                    events, of: streamID, from: expected + 1, expectedVersion: expectedVersion, actual: current)
                return (retry, nil)
            }
        }

        let head = headPosition
        guard !events.isEmpty else {
            return (AppendResult(streamID: streamID, streamVersion: current, positions: head + 1..<head + 1), nil)
        }
        for event in events {
            if let index = eventIndices[event.eventID] {
                throw duplicateEventID(event.eventID, storedAs: log[index], appendingTo: streamID)
            }
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
                    data: event.data,
                    metadata: event.metadata,
                    recordedAt: recordedAt
                ))
        }
        try beforeCommit(recorded)
        // Appended in place: reserving exactly `count + n`, or copying the stream's index list out and back, would
        // copy the whole log or list on every append.
        let first = log.count
        log.append(contentsOf: recorded)
        streams[streamID, default: []].append(contentsOf: first..<log.count)
        for (offset, event) in events.enumerated() {
            eventIndices[event.eventID] = first + offset
        }
        let result = AppendResult(
            streamID: streamID,
            streamVersion: current + UInt64(events.count),
            positions: head + 1..<headPosition + 1
        )
        return (result, headPosition)
    }

    /// For `.any` and `.streamExists`: if the first event is already stored in this stream, the append is a retry and
    /// must match what is stored from there on. `nil` when the first event is new (or there are no events).
    private func retryByEventID(
        _ events: [EventData],
        to streamID: StreamID,
        expectedVersion: ExpectedVersion
    ) throws(EventStoreError) -> AppendResult? {
        guard let first = events.first, let index = eventIndices[first.eventID] else { return nil }
        let stored = log[index]
        guard stored.streamID == streamID else {
            throw duplicateEventID(first.eventID, storedAs: stored, appendingTo: streamID)
        }
        return try retry(
            events, of: streamID, from: stored.streamVersion, expectedVersion: expectedVersion,
            actual: version(of: streamID))
    }

    /// The original result of `events` if they are stored in `streamID` at versions `version`, `version + 1`, ... and
    /// contiguously in the global log; otherwise a wrong-expected-version error.
    private func retry(
        _ events: [EventData],
        of streamID: StreamID,
        from version: UInt64,
        expectedVersion: ExpectedVersion,
        actual: UInt64
    ) throws(EventStoreError) -> AppendResult {
        let indices = streams[streamID] ?? []
        let firstOffset = Int(version - 1)
        guard firstOffset + events.count <= indices.count else {
            throw .wrongExpectedVersion(
                streamID, expected: expectedVersion, actual: actual,
                message: "stream '\(streamID)' is at version \(actual), the append expected \(expectedVersion), and "
                    + "its events are not all stored from version \(version) on")
        }
        let firstIndex = indices[firstOffset]
        for (offset, event) in events.enumerated() {
            let index = indices[firstOffset + offset]
            guard log[index].eventID == event.eventID, index == firstIndex + offset else {
                throw .wrongExpectedVersion(
                    streamID, expected: expectedVersion, actual: actual,
                    message: "stream '\(streamID)' is at version \(actual), the append expected \(expectedVersion), "
                        + "and its events do not match those stored from version \(version) on")
            }
        }
        let firstPosition = UInt64(firstIndex) + 1
        return AppendResult(
            streamID: streamID,
            streamVersion: version + UInt64(events.count) - 1,
            positions: firstPosition..<firstPosition + UInt64(events.count)
        )
    }

    private func duplicateEventID(
        _ eventID: MessageID,
        storedAs stored: RecordedEvent,
        appendingTo streamID: StreamID
    ) -> EventStoreError {
        EventStoreError(
            .duplicateEventID,
            streamID: streamID,
            message: "event \(eventID) is already stored at version \(stored.streamVersion) of stream "
                + "'\(stored.streamID)'; appending it to '\(streamID)' would store it twice"
        )
    }

    // MARK: Reading

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
