/// Where a message's handler runs.
public enum ExecutionMode: String, Hashable, Sendable {
    /// On the serial lane of the message's stream: handlers for one stream run one at a time, in order.
    case serial
    /// On the bounded parallel executor: for stateless handlers, or commands whose conflicts the retry policy resolves.
    case parallel
}
