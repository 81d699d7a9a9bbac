/// An error from the dispatcher itself; domain errors thrown by ``Aggregate/decide(_:_:)`` and store errors reach
/// the caller unchanged.
public struct DispatchError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can be compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case timedOut
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The handler did not finish within the policy's time limit. Its outcome is unknown: events it was
        /// appending may still have been committed. Read the stream to find out.
        public static let timedOut = Code(.timedOut)

        /// The code's name, such as `timedOut`.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The message's id.
    public let messageID: MessageID
    /// The stream the message was addressed to, if any.
    public let streamID: StreamID?
    /// The time limit that passed, for ``Code/timedOut``.
    public let timeout: Duration?

    /// Creates the error.
    public init(_ code: Code, messageID: MessageID, streamID: StreamID?, timeout: Duration? = nil) {
        self.code = code
        self.messageID = messageID
        self.streamID = streamID
        self.timeout = timeout
    }

    /// A sentence naming the code, the message and the stream.
    public var description: String {
        "DispatchError.\(code): message \(messageID)"
            + (streamID.map { " to stream '\($0)'" } ?? "")
            + (timeout.map { " did not finish within \($0)" } ?? "")
    }
}
