/// An append-only store of event streams with one global, totally ordered log.
///
/// The contract every store keeps (the `WhizbangTesting` contract suite checks each rule):
/// - Versions are contiguous per stream, starting at 1. Global positions start at 1 and strictly increase in commit
///   order; a reader never sees a gap that a later commit fills.
/// - An append is all-or-nothing and checks ``ExpectedVersion`` atomically.
/// - Appends are idempotent by event id: resending events that are already stored, in the same order, with the same
///   expected version they were first appended with, succeeds and returns the positions they were first stored at; so
///   does resending a prefix of them. A resend that adds, drops from the middle, reorders or replaces events (an id
///   other than the one stored at that version) fails with ``EventStoreError/Code/wrongExpectedVersion``; an event id
///   already stored at another place fails too. Idempotency is decided from what is stored, so it holds across
///   restarts. Events are matched by id alone, as EventStoreDB matches them: an event whose id is stored at that
///   place is taken for the stored event, whatever its type, data or metadata, and is not written again. So an id
///   names one event for good: give new content a new id (``MessageID/init()``), never one already used. With
///   ``ExpectedVersion/any`` (or ``ExpectedVersion/streamExists``), an append whose first id is stored in the stream
///   is a retry and must match the events stored from there on. A retry's result has the version of its last event,
///   and it succeeds only if the matched events are contiguous in the global log, since
///   ``AppendResult/positions`` is one range.
/// - An empty append with ``ExpectedVersion/any`` or ``ExpectedVersion/noStream`` (on a stream with no events)
///   succeeds and writes nothing.
/// - Once an append returns, its events survive a crash of the process (and, for durable stores configured so, of
///   the machine).
///
/// All methods may be called concurrently from any task.
public protocol EventStore: Sendable {
    /// Appends events to the end of a stream, atomically, if the stream's version matches `expectedVersion`.
    ///
    /// - Parameters:
    ///   - events: the events, in order. Their ids must be distinct.
    ///   - streamID: the stream to append to; it is created by its first event.
    ///   - expectedVersion: what the stream's version must be for the append to happen.
    /// - Returns: the stream's new version and the events' global positions.
    /// - Throws: ``EventStoreError`` — `wrongExpectedVersion` (with stream, expected and actual version),
    ///   `duplicateEventID`, `invalidStreamID`, `invalidArgument`, `payloadTooLarge`, `closed`, or a storage failure.
    func append(
        _ events: [EventData],
        to streamID: StreamID,
        expectedVersion: ExpectedVersion
    ) async throws -> AppendResult

    /// Reads up to `limit` events of one stream, starting at `version` (inclusive).
    ///
    /// Reading forwards from version 1 starts at the beginning; reading backwards from a version past the end
    /// (such as `UInt64.max`) starts at the last event. A stream with no events reads as empty.
    func readStream(
        _ streamID: StreamID,
        from version: UInt64,
        direction: ReadDirection,
        limit: Int
    ) async throws -> [RecordedEvent]

    /// Reads up to `limit` events of the global log whose positions are greater than `position`, in order.
    ///
    /// Pass 0 to read from the beginning, or the position of the last event handled to continue after it.
    func readAll(after position: UInt64, limit: Int) async throws -> [RecordedEvent]

    /// The position of the last event in the global log, or 0 if the store is empty.
    func headPosition() async throws -> UInt64

    /// The version of a stream: the number of events in it, 0 if it has none.
    func streamVersion(of streamID: StreamID) async throws -> UInt64

    /// The stored event whose id is `eventID`, or `nil` if there is none; it only reads.
    ///
    /// An event's id is the message id of its own envelope (see `RecordedEvent.eventEnvelope()`), so this finds the
    /// message that a causation id names when that message is an event. The default reads the whole log; the
    /// stores of this package answer from an index.
    func event(withID eventID: MessageID) async throws -> RecordedEvent?

    /// Returns once the global log has an event after `position`, at once if it already has.
    ///
    /// - Throws: `CancellationError` if the calling task is cancelled first; ``EventStoreError/Code/closed`` if the
    ///   store closes first.
    func waitForEvents(after position: UInt64) async throws

    /// The position a consumer saved with ``saveCheckpoint(_:for:)``, or `nil` if it never saved one.
    func checkpoint(for consumer: String) async throws -> UInt64?

    /// Saves a consumer's position, replacing the one it saved before.
    func saveCheckpoint(_ position: UInt64, for consumer: String) async throws

    /// Stores a snapshot of a stream's state; a later one for the same stream replaces it as the latest.
    func saveSnapshot(_ snapshot: Snapshot) async throws

    /// The snapshot of a stream with the highest stream version, or `nil` if there is none.
    func latestSnapshot(for streamID: StreamID) async throws -> Snapshot?
}

extension EventStore {
    /// Follows the global log from after `position`: first the events already stored, then each new one as it is
    /// committed, every event once and in order.
    ///
    /// The subscription reads in batches of `batchSize` as it is iterated, so a slow consumer holds back reading,
    /// never memory. Cancellation is final: once the iterating task is cancelled, the iterator's next call returns
    /// `nil` (even with events still buffered) and so does every later one.
    public func subscribe(after position: UInt64 = 0, batchSize: Int = 512) -> EventSubscription<Self> {
        EventSubscription(store: self, after: position, batchSize: batchSize)
    }
}
