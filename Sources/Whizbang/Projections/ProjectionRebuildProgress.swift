/// How far a rebuild has got, reported by ``ProjectionRunner/rebuild(progress:)`` after each batch.
public struct ProjectionRebuildProgress: Hashable, Sendable {
    /// The position of the last event applied.
    public var position: UInt64
    /// The head of the log when the rebuild started: the rebuild ends once ``position`` reaches it. Events appended
    /// later are applied by the next ``ProjectionRunner/run()``.
    public var head: UInt64
    /// The number of events applied by this call (an interrupted rebuild that resumes counts from where it resumed).
    public var eventsApplied: Int

    /// Creates a progress report.
    public init(position: UInt64, head: UInt64, eventsApplied: Int) {
        self.position = position
        self.head = head
        self.eventsApplied = eventsApplied
    }

    /// The share of the log replayed, from 0 to 1; 1 for an empty log.
    public var fractionCompleted: Double {
        head == 0 ? 1 : Double(Swift.min(position, head)) / Double(head)
    }
}
