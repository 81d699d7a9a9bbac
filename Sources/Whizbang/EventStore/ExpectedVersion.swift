/// What an append expects of its stream's version, for optimistic concurrency.
///
/// A stream's version is the number of events in it: the first event of a stream has version 1, and a stream that
/// has no events has version 0. The semantics follow KurrentDB's and SqlStreamStore's, shifted to these 1-based
/// versions.
public enum ExpectedVersion: Hashable, Sendable, CustomStringConvertible {
    /// Append whatever the stream's version is. No conflict is possible, and no idempotency check by version.
    case any
    /// The stream must have no events (version 0).
    case noStream
    /// The stream must have at least one event.
    case streamExists
    /// The stream's version must be exactly this; `.exact(0)` means the same as ``noStream``.
    case exact(UInt64)

    /// The case as written in Swift, such as `noStream` or `exact(3)`.
    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "noStream"
        case .streamExists: "streamExists"
        case .exact(let version): "exact(\(version))"
        }
    }
}
