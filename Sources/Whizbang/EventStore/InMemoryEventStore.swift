#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// An ``EventStore`` that keeps everything in memory, for tests, examples and prototypes.
///
/// It keeps every rule of the ``EventStore`` contract except durability: its events live as long as the instance.
/// Appends are serialised by one lock, so global positions follow commit order and a reader never sees a gap.
///
/// How it decides the cases the contract leaves to the store:
/// - **Idempotency** compares event ids only, as KurrentDB does, not type, data or metadata: a retry re-encodes its
///   events and need not produce the same bytes.
/// - With ``ExpectedVersion/noStream`` or ``ExpectedVersion/exact(_:)`` on a stream that has moved past the expected
///   version, the append is a retry if its events are the ones stored right after the expected version (all of them
///   or a prefix); any other append there is a conflict, ``EventStoreError/Code/wrongExpectedVersion``.
/// - With ``ExpectedVersion/any`` or ``ExpectedVersion/streamExists`` (on a stream that has events), an append whose
///   first event id is stored in the stream is a retry: it succeeds if its events are stored at consecutive versions
///   from there (the stream's tail or any run within it) and fails with `wrongExpectedVersion` otherwise, KurrentDB's
///   "corrupted idempotency". An append whose first event id is new is written.
/// - A retry succeeds only if the matched events are also contiguous in the global log (as one append writes them),
///   because ``AppendResult/positions`` is one range; it returns the stream version of the last matched event and
///   their original positions.
/// - An append that would be written fails with ``EventStoreError/Code/duplicateEventID`` if one of its event ids is
///   stored anywhere, in this stream or another: event ids are unique across the store.
/// - An empty append checks the expected version and writes nothing; its result has the stream's current version and
///   an empty range of positions.
/// - An append is validated before anything else: the stream id (``StreamID/validate()``), a non-empty event type,
///   distinct event ids, and data and metadata within ``Configuration/maximumPayloadSize``; a failure there is
///   ``EventStoreError/Code/invalidStreamID``, `invalidArgument` or `payloadTooLarge`.
/// - ``Configuration/inlineProjections`` are applied to the events of each append under the store's lock, after every
///   check and before the events become visible; if one throws, the append fails with
///   ``EventStoreError/Code/inlineProjectionFailed`` and writes nothing.
public final class InMemoryEventStore: EventStore {
    /// Limits an in-memory store enforces.
    public struct Configuration: Sendable {
        /// The largest event data, event metadata or snapshot data, in bytes, each counted on its own; larger ones
        /// fail with ``EventStoreError/Code/payloadTooLarge``. Default: 16 MiB (16,777,216 bytes).
        public var maximumPayloadSize: Int
        /// Read models updated inside every append, atomically with it, in this order. Default: none.
        public var inlineProjections: [any InMemoryInlineProjection]

        /// A configuration with the documented defaults.
        public init() {
            self.maximumPayloadSize = 16 * 1024 * 1024
            self.inlineProjections = []
        }
    }

    /// The limits the store was created with.
    public let configuration: Configuration
    private let state = Mutex(InMemoryEventStoreState())
    private let signal = AppendSignal()

    /// Creates an empty store.
    ///
    /// - Parameter configuration: the limits to enforce.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Appends events to the end of a stream, atomically, if the stream's version matches `expectedVersion`.
    ///
    /// See ``EventStore/append(_:to:expectedVersion:)`` for the contract and the type's documentation for how
    /// retries are recognised.
    ///
    /// - Throws: ``EventStoreError`` — `wrongExpectedVersion`, `duplicateEventID`, `invalidStreamID`,
    ///   `invalidArgument` or `payloadTooLarge`. A failed append writes nothing.
    public func append(
        _ events: [EventData],
        to streamID: StreamID,
        expectedVersion: ExpectedVersion
    ) async throws(EventStoreError) -> AppendResult {
        try validate(events, for: streamID)
        let projections = configuration.inlineProjections
        let (result, newHead) = try state.withLock { state throws(EventStoreError) in
            try state.append(events, to: streamID, expectedVersion: expectedVersion, recordedAt: Date()) {
                recorded throws(EventStoreError) in
                for projection in projections {
                    do {
                        try projection.apply(recorded)
                    } catch {
                        throw EventStoreError(
                            .inlineProjectionFailed, streamID: streamID,
                            message: "inline projection '\(projection.name)' failed: \(error)")
                    }
                }
            }
        }
        if let newHead { signal.advance(to: newHead) }
        return result
    }

    /// Reads up to `limit` events of one stream, starting at `version` (inclusive).
    ///
    /// Forwards from 0 reads from the start, like from 1; backwards from 0 reads nothing.
    ///
    /// - Throws: ``EventStoreError/Code/invalidStreamID``, or ``EventStoreError/Code/invalidArgument`` if `limit` is
    ///   negative.
    public func readStream(
        _ streamID: StreamID,
        from version: UInt64,
        direction: ReadDirection,
        limit: Int
    ) async throws(EventStoreError) -> [RecordedEvent] {
        try streamID.validate()
        try Self.validate(limit: limit)
        return state.withLock { $0.readStream(streamID, from: version, direction: direction, limit: limit) }
    }

    /// Reads up to `limit` events of the global log whose positions are greater than `position`, in order.
    ///
    /// - Throws: ``EventStoreError/Code/invalidArgument`` if `limit` is negative.
    public func readAll(after position: UInt64, limit: Int) async throws(EventStoreError) -> [RecordedEvent] {
        try Self.validate(limit: limit)
        return state.withLock { $0.readAll(after: position, limit: limit) }
    }

    /// The position of the last event in the global log, or 0 if the store is empty.
    public func headPosition() async throws(EventStoreError) -> UInt64 {
        state.withLock { $0.headPosition }
    }

    /// The version of a stream: the number of events in it, 0 if it has none.
    ///
    /// - Throws: ``EventStoreError/Code/invalidStreamID``.
    public func streamVersion(of streamID: StreamID) async throws(EventStoreError) -> UInt64 {
        try streamID.validate()
        return state.withLock { $0.version(of: streamID) }
    }

    /// Returns once the global log has an event after `position`, at once if it already has.
    ///
    /// - Throws: `CancellationError` if the calling task is cancelled first.
    public func waitForEvents(after position: UInt64) async throws {
        try await signal.wait(after: position)
    }

    /// The position a consumer saved with ``saveCheckpoint(_:for:)``, or `nil` if it never saved one.
    public func checkpoint(for consumer: String) async throws(EventStoreError) -> UInt64? {
        state.withLock { $0.checkpoint(for: consumer) }
    }

    /// Saves a consumer's position, replacing the one it saved before (a lower position too).
    ///
    /// - Throws: ``EventStoreError/Code/invalidArgument`` if `consumer` is empty.
    public func saveCheckpoint(_ position: UInt64, for consumer: String) async throws(EventStoreError) {
        guard !consumer.isEmpty else {
            throw EventStoreError(.invalidArgument, message: "a checkpoint's consumer name must not be empty")
        }
        state.withLock { $0.saveCheckpoint(position, for: consumer) }
    }

    /// Stores a snapshot of a stream's state; it becomes the latest unless one with a higher stream version is stored.
    ///
    /// - Throws: ``EventStoreError/Code/invalidStreamID``; ``EventStoreError/Code/invalidArgument`` if its state type
    ///   is empty; ``EventStoreError/Code/payloadTooLarge`` if its data exceeds
    ///   ``Configuration/maximumPayloadSize``.
    public func saveSnapshot(_ snapshot: Snapshot) async throws(EventStoreError) {
        try snapshot.streamID.validate()
        guard !snapshot.stateType.isEmpty else {
            throw EventStoreError(
                .invalidArgument, streamID: snapshot.streamID, message: "a snapshot's state type must not be empty")
        }
        try checkPayload(snapshot.data.count, of: "snapshot data", streamID: snapshot.streamID)
        state.withLock { $0.saveSnapshot(snapshot) }
    }

    /// The snapshot of a stream with the highest stream version, or `nil` if there is none.
    ///
    /// - Throws: ``EventStoreError/Code/invalidStreamID``.
    public func latestSnapshot(for streamID: StreamID) async throws(EventStoreError) -> Snapshot? {
        try streamID.validate()
        return state.withLock { $0.latestSnapshot(for: streamID) }
    }

    // MARK: Validation

    private func validate(_ events: [EventData], for streamID: StreamID) throws(EventStoreError) {
        try streamID.validate()
        // Most appends carry one event or a few: compare their ids pairwise instead of building a set.
        var eventIDs = events.count > 8 ? Set<MessageID>(minimumCapacity: events.count) : nil
        for (index, event) in events.enumerated() {
            guard !event.eventType.isEmpty else {
                throw EventStoreError(
                    .invalidArgument, streamID: streamID,
                    message: "event \(index) (\(event.eventID)) has an empty event type")
            }
            let isDistinct =
                if eventIDs != nil {
                    eventIDs!.insert(event.eventID).inserted
                } else {
                    !events[..<index].contains { $0.eventID == event.eventID }
                }
            guard isDistinct else {
                throw EventStoreError(
                    .invalidArgument, streamID: streamID,
                    message: "event id \(event.eventID) appears more than once in one append")
            }
            try checkPayload(event.data.count, of: "the data", index: index, streamID: streamID)
            try checkPayload(event.metadata.count, of: "the metadata", index: index, streamID: streamID)
        }
    }

    /// Checks one payload's size; the message is built only when the check fails.
    private func checkPayload(_ size: Int, of what: String, index: Int? = nil, streamID: StreamID)
        throws(EventStoreError)
    {
        let limit = configuration.maximumPayloadSize
        guard size <= limit else {
            throw EventStoreError(
                .payloadTooLarge, streamID: streamID,
                message: "\(what)\(index.map { " of event \($0)" } ?? "") has \(size) bytes; this store accepts at most \(limit)")
        }
    }

    private static func validate(limit: Int) throws(EventStoreError) {
        guard limit >= 0 else {
            throw EventStoreError(.invalidArgument, message: "a read limit must not be negative; it was \(limit)")
        }
    }
}
