/// An error from the dispatcher itself; domain errors thrown by ``Aggregate/decide(_:_:)`` and store errors reach
/// the caller unchanged.
public struct DispatchError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can be compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case timedOut
            case deadlineExceeded
            case shutDown
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The handler did not finish within the policy's time limit: it was cancelled, and awaited. Its outcome is
        /// unknown: events it was appending may still have been committed. Read the stream to find out. (A command
        /// whose append was under way at the limit and committed anyway reports its result instead, as with a
        /// per-call limit; a handler of `invoke` that returns after the limit gets this error, since its value may be
        /// a stand-in returned on cancellation.)
        public static let timedOut = Code(.timedOut)
        /// The call's own time limit (the `timeout` argument of `send` or `invoke`) passed. When
        /// ``DispatchError/commandStarted`` is `false`, the command or handler never started and nothing was written;
        /// when it is `true`, it was cancelled while it ran and its outcome is unknown: read the stream to find out.
        public static let deadlineExceeded = Code(.deadlineExceeded)
        /// The dispatcher was shut down or stopped: the command, handler or load that ``DispatchError/messageID``
        /// names did not start. A handler that sends a command and rethrows its refusal passes this error on with
        /// the sent command's id: compare the id with your own message's before taking it to mean that nothing ran.
        public static let shutDown = Code(.shutDown)

        /// The code's name, such as `timedOut`.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The message's id; `nil` for a load, which has no message.
    public let messageID: MessageID?
    /// The stream the message was addressed to, if any.
    public let streamID: StreamID?
    /// The time limit that passed, for ``Code/timedOut`` and ``Code/deadlineExceeded``.
    public let timeout: Duration?
    /// For ``Code/deadlineExceeded``: whether the command or handler had started when its time limit passed.
    public let commandStarted: Bool?

    /// Creates the error.
    public init(
        _ code: Code,
        messageID: MessageID?,
        streamID: StreamID?,
        timeout: Duration? = nil,
        commandStarted: Bool? = nil
    ) {
        self.code = code
        self.messageID = messageID
        self.streamID = streamID
        self.timeout = timeout
        self.commandStarted = commandStarted
    }

    /// A sentence naming the code, the message and the stream.
    public var description: String {
        var text = "DispatchError.\(code): " + (messageID.map { "message \($0)" } ?? "load")
        if let streamID { text += " to stream '\(streamID)'" }
        switch (code, commandStarted) {
        case (.shutDown, _): text += " was refused: the dispatcher is shut down"
        case (_, .some(false)): text += " did not start within \(timeout.map { "\($0)" } ?? "its time limit")"
        case (_, .some(true)):
            text += " was cancelled after \(timeout.map { "\($0)" } ?? "its time limit"); its outcome is unknown"
        case (_, .none): text += timeout.map { " did not finish within \($0)" } ?? ""
        }
        return text
    }
}
