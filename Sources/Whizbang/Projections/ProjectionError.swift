/// An error from a ``ProjectionRunner``; errors thrown by a projection's own methods and by the store reach the caller
/// unchanged.
///
/// Compare ``code`` with the static members of ``Code``, for example `error.code == .alreadyActive`. New codes may be
/// added without breaking the API.
public struct ProjectionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can be compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case alreadyActive
            case stopped
            case positionUnavailable
            case reentrantWait
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// ``ProjectionRunner/run()`` or ``ProjectionRunner/rebuild(progress:)`` was called while the runner was
        /// already running or rebuilding. One runner does one of these at a time.
        public static let alreadyActive = Code(.alreadyActive)
        /// The runner stopped before the projection reached the position a caller was waiting for.
        public static let stopped = Code(.stopped)
        /// The projection keeps its own checkpoint (``ProjectionCheckpointStorage/projection``) but does not
        /// implement ``Projection/position()``.
        public static let positionUnavailable = Code(.positionUnavailable)
        /// A wait for the runner's projection to reach a position it has not reached, made from inside that runner's
        /// own work (a projection's ``Projection/apply(_:)``, a process manager's handler, a rebuild's progress): the
        /// runner applies nothing more until that work returns, so the wait would never end.
        public static let reentrantWait = Code(.reentrantWait)

        /// The code's name, such as `alreadyActive`.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The name of the projection concerned.
    public let projection: String
    /// The position concerned: the one a caller waited for, for ``Code/stopped``.
    public let position: UInt64?
    /// A human-readable explanation.
    public let message: String

    /// Creates the error; runners throw these.
    public init(_ code: Code, projection: String, position: UInt64? = nil, message: String) {
        self.code = code
        self.projection = projection
        self.position = position
        self.message = message
    }

    /// The code, the projection and the message, as `ProjectionError.<code>: projection '<name>': <message>`.
    public var description: String {
        "ProjectionError.\(code): projection '\(projection)': \(message)"
    }
}
