/// The one rule by which every store decides an append: write it, recognise it as an idempotent resend, or refuse it.
///
/// The decision is a pure function of the request, the stream's current version and the stored events it asks
/// about through an ``AppendDecisionLookup``; it writes nothing. ``InMemoryEventStore`` and the SQLite store call
/// it inside their write lock or transaction, and the PostgreSQL store's append function mirrors it statement for
/// statement, so the three decide every append alike (the contract suite's `appendDecision` checks pin that).
///
/// The rule, for a request that passed ``EventStoreValidation/validateAppend(_:to:maximumPayloadBytes:)``:
/// - ``ExpectedVersion/noStream`` and ``ExpectedVersion/exact(_:)`` (expecting version `e`): on a stream at `e` the
///   events are written (an empty append writes nothing). On a stream past `e`, a non-empty append is a resend if
///   its events are the ones stored from version `e + 1` on (all of them or a prefix) and contiguous in the global
///   log; anything else is ``EventStoreError/Code/wrongExpectedVersion``.
/// - ``ExpectedVersion/any`` and ``ExpectedVersion/streamExists`` (the latter fails with `wrongExpectedVersion` on a
///   stream with no events): an empty append writes nothing. When the stream has events and the first event id is
///   stored, the append is a resend if its events are stored in this stream from that event's version on, contiguous
///   in the log, and `wrongExpectedVersion` otherwise; if that id is stored in another stream, it is
///   ``EventStoreError/Code/duplicateEventID``. Otherwise the events are written.
/// - Events to be written whose ids are stored anywhere fail with ``duplicateEventID(_:appendingTo:)``: stores check
///   this as they write (a unique index), since only the first id is looked up beforehand.
public enum AppendDecision: Hashable, Sendable {
    /// Write the events at versions `firstVersion`, `firstVersion + 1`, ...; the stream is at `firstVersion - 1`.
    case write(firstVersion: UInt64)
    /// Write nothing: an empty append whose expectation holds, on a stream at `streamVersion`. Its result has no
    /// positions and is placed where the next event would go.
    case empty(streamVersion: UInt64)
    /// Write nothing: the events are stored already, and this is the result of their first append.
    case resend(AppendResult)
    /// Write nothing and fail with this error.
    case fail(EventStoreError)

    /// Decides an append.
    ///
    /// - Parameters:
    ///   - events: the append's events, already validated.
    ///   - streamID: the stream appended to.
    ///   - expectedVersion: the append's expected version.
    ///   - currentVersion: the stream's version now, inside the store's write lock or transaction.
    ///   - lookup: answers questions about stored events; asked at most once each, and only when needed.
    /// - Throws: only what `lookup` throws (a storage failure).
    public static func decide<Lookup: AppendDecisionLookup>(
        _ events: [EventData],
        to streamID: StreamID,
        expectedVersion: ExpectedVersion,
        currentVersion: UInt64,
        lookup: inout Lookup
    ) throws(Lookup.Failure) -> AppendDecision {
        let current = currentVersion
        switch expectedVersion {
        case .any, .streamExists:
            if expectedVersion == .streamExists && current == 0 {
                return .fail(.wrongExpectedVersion(streamID, expected: expectedVersion, actual: current))
            }
            guard let first = events.first else { return .empty(streamVersion: current) }
            if current > 0, let stored = try lookup.location(of: first.eventID) {
                guard stored.isInAppendedStream else {
                    return .fail(duplicateEventID(first.eventID, appendingTo: streamID))
                }
                return try resend(
                    events, to: streamID, expectedVersion: expectedVersion, current: current,
                    from: stored.streamVersion, lookup: &lookup)
            }
            return .write(firstVersion: current + 1)
        case .noStream, .exact:
            let expected: UInt64 = if case .exact(let version) = expectedVersion { version } else { 0 }
            if current == expected {
                return events.isEmpty ? .empty(streamVersion: current) : .write(firstVersion: current + 1)
            }
            if current > expected, !events.isEmpty {
                return try resend(
                    events, to: streamID, expectedVersion: expectedVersion, current: current, from: expected + 1,
                    lookup: &lookup)
            }
            return .fail(.wrongExpectedVersion(streamID, expected: expectedVersion, actual: current))
        }
    }

    /// A resend if `events` are stored in the stream at versions `version`, `version + 1`, ... and contiguously in
    /// the global log; a wrong-expected-version failure otherwise.
    private static func resend<Lookup: AppendDecisionLookup>(
        _ events: [EventData],
        to streamID: StreamID,
        expectedVersion: ExpectedVersion,
        current: UInt64,
        from version: UInt64,
        lookup: inout Lookup
    ) throws(Lookup.Failure) -> AppendDecision {
        let stored = try lookup.storedEvents(from: version, limit: events.count)
        var firstPosition: UInt64 = 0
        var matches = stored.count == events.count
        if matches {
            for (offset, (storedEvent, event)) in zip(stored, events).enumerated() {
                if offset == 0 { firstPosition = storedEvent.position }
                guard storedEvent.eventID == event.eventID,
                    storedEvent.streamVersion == version + UInt64(offset),
                    storedEvent.position == firstPosition + UInt64(offset)
                else {
                    matches = false
                    break
                }
            }
        }
        guard matches else {
            return .fail(
                .wrongExpectedVersion(
                    streamID, expected: expectedVersion, actual: current,
                    message: "stream '\(streamID)' is at version \(current), the append expected \(expectedVersion), "
                        + "and its events are not the ones stored from version \(version) on"))
        }
        let count = UInt64(events.count)
        return .resend(
            AppendResult(
                streamID: streamID, streamVersion: version + count - 1,
                positions: firstPosition..<firstPosition + count))
    }

    /// The error for an append whose event id is already stored at another place than the append would put it.
    public static func duplicateEventID(_ eventID: MessageID, appendingTo streamID: StreamID) -> EventStoreError {
        EventStoreError(
            .duplicateEventID,
            streamID: streamID,
            message: "event id \(eventID) is already stored at another place than this append to '\(streamID)'"
        )
    }
}
