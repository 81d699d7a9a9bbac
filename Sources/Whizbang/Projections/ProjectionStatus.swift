#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// What a projection's (or a process manager's) runner is doing, as it last said: running, rebuilding, stopped, or
/// failed with the error that stopped it.
///
/// A ``ProjectionRunner`` publishes its status on the ``ProjectionStatusBoard`` of its configuration; an operator's
/// console reads it there.
public struct ProjectionStatus: Sendable, Hashable {
    /// The runner's state. New states may be added.
    public struct State: Sendable, Hashable, CustomStringConvertible {
        private enum Code: String, Sendable {
            case running
            case rebuilding
            case stopped
            case failed
        }

        private let code: Code

        /// Catching up or following the log.
        public static let running = State(code: .running)
        /// Rebuilding the read model from the start of the log.
        public static let rebuilding = State(code: .rebuilding)
        /// Ended by a graceful shutdown, by the cancellation of its task, or by a rebuild that finished.
        public static let stopped = State(code: .stopped)
        /// Stopped by an error thrown by the projection or the store, a `CancellationError` while the runner's task
        /// was not cancelled among them; see ``ProjectionStatus/error``.
        public static let failed = State(code: .failed)

        /// `running`, `rebuilding`, `stopped` or `failed`.
        public var description: String { code.rawValue }
    }

    /// The state.
    public var state: State
    /// When the runner entered the state.
    public var since: Date
    /// The error that stopped the runner, as text, when ``state`` is ``State/failed``; `nil` otherwise.
    public var error: String?

    /// A status entered at `since`; `error` is kept only for ``State/failed``.
    public init(state: State, since: Date, error: String? = nil) {
        self.state = state
        self.since = since
        self.error = state == .failed ? error : nil
    }
}
