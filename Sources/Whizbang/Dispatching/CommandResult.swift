/// What an accepted command did.
public struct CommandResult<A: Aggregate>: Sendable {
    /// The command's envelope, with the hop that handled it.
    public let envelope: EnvelopeMetadata
    /// The events the command recorded, in order; empty if it was accepted without recording anything.
    public let events: [A.Event]
    /// The aggregate after the command: its state and stream version.
    public let aggregate: LoadedAggregate<A>
    /// The global positions of the recorded events. For a command that recorded none, an empty range placed after
    /// the head of the log as it was when the command finished (read from the store, one query), so that
    /// `positions.upperBound - 1` is always a position to wait for (``ProjectionRunner/waitUntilApplied(through:)``)
    /// to read what the command saw.
    public let positions: Range<UInt64>
    /// How many attempts the command took: 1, plus one for each conflict retried.
    public let attempts: Int

    @usableFromInline
    init(
        envelope: EnvelopeMetadata, events: [A.Event], aggregate: LoadedAggregate<A>, positions: Range<UInt64>,
        attempts: Int
    ) {
        self.envelope = envelope
        self.events = events
        self.aggregate = aggregate
        self.positions = positions
        self.attempts = attempts
    }

    /// The stream's version after the command.
    public var streamVersion: UInt64 { aggregate.version }
}
