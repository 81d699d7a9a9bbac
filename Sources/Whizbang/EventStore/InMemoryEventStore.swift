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
/// Appends are validated with ``EventStoreValidation`` and decided by ``AppendDecision``, the rule every store
/// shares: idempotency compares event ids only, as KurrentDB does, and event ids are unique across the store. Stream
/// ids and checkpoint consumer names are compared by their UTF-8 bytes (see ``StreamID``).
/// - ``Configuration/inlineProjections`` are applied to the events of each append under the store's lock, after every
///   check and before the events become visible; if one throws, the append fails with
///   ``EventStoreError/Code/inlineProjectionFailed`` and writes nothing.
/// - ``Configuration/readModels`` are kept as ``ReadModelStore`` describes; the store is its reference
///   implementation. Backfills and rebuilds run synchronously (at creation, in ``rebuildReadModel(named:)``), so
///   they are never seen half done.
public final class InMemoryEventStore: EventStore {
    /// Limits an in-memory store enforces.
    public struct Configuration: Sendable {
        /// The largest event data, event metadata or snapshot data, in bytes, each counted on its own; larger ones
        /// fail with ``EventStoreError/Code/payloadTooLarge``. Default: 16 MiB (16,777,216 bytes).
        public var maximumPayloadBytes: Int
        /// The former name of ``maximumPayloadBytes``, the name every store uses.
        @available(*, deprecated, renamed: "maximumPayloadBytes")
        public var maximumPayloadSize: Int {
            get { maximumPayloadBytes }
            set { maximumPayloadBytes = newValue }
        }

        /// Read models updated inside every append, atomically with it, in this order. Default: none.
        ///
        /// The store cannot undo what a projection did: when one throws, the append fails and stores nothing, but the
        /// projections before it in this list have applied its events. Keep read models that must agree in one
        /// projection, or use ``readModels``, which the store updates all or nothing.
        public var inlineProjections: [any InMemoryInlineProjection]

        /// Read models the store keeps and answers queries on (see ``ReadModelStore``), with distinct names.
        /// ``ReadModelMode/inline`` ones are updated under the store's lock inside each append,
        /// ``ReadModelMode/async`` ones right after it; each is built from the log when the store is created.
        /// Default: none.
        public var readModels: [any ReadModelProjection]

        /// A configuration with the documented defaults.
        public init() {
            self.maximumPayloadBytes = 16 * 1024 * 1024
            self.inlineProjections = []
            self.readModels = []
        }
    }

    /// The limits the store was created with.
    public let configuration: Configuration
    let state: Mutex<InMemoryEventStoreState>
    let signal: AppendSignal
    /// Whether any read model is ``ReadModelMode/async``, so that appends without one skip their catch-up.
    private let hasAsyncReadModels: Bool

    /// Creates an empty store.
    ///
    /// Two read models of one name in ``Configuration/readModels`` are a programmer error that stops the program;
    /// ``init(validating:)`` throws instead.
    ///
    /// - Parameter configuration: the limits to enforce and the read models to keep.
    public convenience init(configuration: Configuration = Configuration()) {
        do {
            try self.init(validating: configuration)
        } catch {
            preconditionFailure("\(error)")
        }
    }

    /// Creates an empty store, refusing a configuration whose read models repeat a name.
    ///
    /// - Throws: ``ReadModelError`` (``ReadModelError/Code/duplicateName``).
    public convenience init(validating configuration: Configuration) throws(ReadModelError) {
        try self.init(configuration: configuration, state: InMemoryEventStoreState())
    }

    /// A store that starts with `state` (the log, checkpoints, snapshots and read model tables of another store) and
    /// registers `configuration`'s read models on it: as the same database opened again.
    private init(configuration: Configuration, state: InMemoryEventStoreState) throws(ReadModelError) {
        var state = state
        state.registerReadModels(try ReadModelDefinition.definitions(configuration.readModels))
        self.configuration = configuration
        self.signal = AppendSignal(head: state.headPosition)
        self.state = Mutex(state)
        self.hasAsyncReadModels = configuration.readModels.contains { $0.mode == .async }
    }

    /// A new store holding a copy of everything this one holds, with `configuration`'s read models: what reopening
    /// a durable store's database would give. Read model tables carry over; new read models and new versions are
    /// built from the log.
    ///
    /// - Throws: ``ReadModelError`` (``ReadModelError/Code/duplicateName``).
    package func reopened(configuration: Configuration) throws(ReadModelError) -> InMemoryEventStore {
        try InMemoryEventStore(configuration: configuration, state: state.withLock { $0 })
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
        if let newHead {
            if hasAsyncReadModels { state.withLock { $0.catchUpAsyncReadModels() } }
            signal.advance(to: newHead)
        }
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

    /// The event stored under `eventID`, or `nil`; see `EventStore/event(withID:)`.
    public func event(withID eventID: MessageID) async throws(EventStoreError) -> RecordedEvent? {
        state.withLock { $0.event(withID: eventID) }
    }

    /// Returns once the global log has an event after `position`, at once if it already has.
    ///
    /// - Throws: `CancellationError` if the calling task is cancelled first.
    public func waitForEvents(after position: UInt64) async throws {
        try await signal.wait(after: position)
    }

    /// The position a consumer saved with ``saveCheckpoint(_:for:)``, or `nil` if it never saved one.
    ///
    /// - Throws: ``EventStoreError/Code/invalidArgument`` if `consumer` is not a consumer name any store accepts
    ///   (``EventStoreValidation/validateConsumer(_:)``), as the other stores do.
    public func checkpoint(for consumer: String) async throws(EventStoreError) -> UInt64? {
        try EventStoreValidation.validateConsumer(consumer)
        return state.withLock { $0.checkpoint(for: consumer) }
    }

    /// Saves a consumer's position, replacing the one it saved before (a lower position too).
    ///
    /// - Throws: ``EventStoreError/Code/invalidArgument`` if `consumer` is empty or `position` is above
    ///   ``EventStoreValidation/maximumPosition``.
    public func saveCheckpoint(_ position: UInt64, for consumer: String) async throws(EventStoreError) {
        try EventStoreValidation.validateCheckpoint(position, for: consumer)
        state.withLock { $0.saveCheckpoint(position, for: consumer) }
    }

    /// Stores a snapshot of a stream's state; it becomes the latest unless one with a higher stream version is stored.
    ///
    /// - Throws: ``EventStoreError/Code/invalidStreamID``; ``EventStoreError/Code/invalidArgument`` if its state type
    ///   is empty; ``EventStoreError/Code/payloadTooLarge`` if its data exceeds
    ///   ``Configuration/maximumPayloadBytes``.
    public func saveSnapshot(_ snapshot: Snapshot) async throws(EventStoreError) {
        try EventStoreValidation.validateSnapshot(snapshot, maximumPayloadBytes: configuration.maximumPayloadBytes)
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
        try EventStoreValidation.validateAppend(
            events, to: streamID, maximumPayloadBytes: configuration.maximumPayloadBytes)
    }

    private static func validate(limit: Int) throws(EventStoreError) {
        try EventStoreValidation.validateReadLimit(limit)
    }
}
