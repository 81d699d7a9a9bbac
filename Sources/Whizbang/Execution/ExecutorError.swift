/// An error thrown by an executor when it does not run a submitted handler.
///
/// Errors thrown by a handler itself are never wrapped: they reach the handler's own caller unchanged. An
/// `ExecutorError` means the handler did not run at all.
///
/// Compare errors with the static members, for example `error.code == .stopped`.
public struct ExecutorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can be compared and switched over with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        @usableFromInline
        enum Base: Hashable, Sendable {
            case stopped
            case draining
            case queueFull
            case reentrantSubmission
        }

        @usableFromInline
        let base: Base

        @inlinable
        init(_ base: Base) { self.base = base }

        /// The executor was stopped: it accepts no work, and work that was queued when it stopped is failed.
        public static let stopped = Code(.stopped)
        /// The executor is draining: it finishes the work it has accepted but accepts no new work.
        public static let draining = Code(.draining)
        /// The executor's queue was at its limit and its overflow behaviour is ``OverflowBehavior/reject``.
        public static let queueFull = Code(.queueFull)
        /// A handler submitted work to the serial lane it is running on; waiting would deadlock, so it fails at once.
        public static let reentrantSubmission = Code(.reentrantSubmission)

        /// The code's name, such as `stopped`.
        public var description: String {
            switch base {
            case .stopped: "stopped"
            case .draining: "draining"
            case .queueFull: "queueFull"
            case .reentrantSubmission: "reentrantSubmission"
            }
        }
    }

    /// What went wrong.
    public let code: Code

    /// The executor's label, from its configuration, to tell executors apart in logs.
    public let executorLabel: String

    @inlinable
    init(_ code: Code, executorLabel: String) {
        self.code = code
        self.executorLabel = executorLabel
    }

    /// A sentence naming the code and the executor.
    public var description: String {
        switch code.base {
        case .stopped:
            "ExecutorError.stopped: executor '\(executorLabel)' has stopped and accepts no work"
        case .draining:
            "ExecutorError.draining: executor '\(executorLabel)' is draining and accepts no new work"
        case .queueFull:
            "ExecutorError.queueFull: executor '\(executorLabel)' rejected the work because its queue is full"
        case .reentrantSubmission:
            "ExecutorError.reentrantSubmission: a handler running on executor '\(executorLabel)' submitted work to "
                + "the same serial lane, which would wait for itself forever"
        }
    }
}
