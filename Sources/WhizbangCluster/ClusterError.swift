/// Why a cluster call failed.
///
/// Compare ``code`` with the static members of ``Code``; ``message`` says what happened in words, with the node,
/// partition or message id concerned.
public struct ClusterError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can be compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case partitionCountMismatch
            case nodeAlreadyLive
            case invalidConfiguration
            case unregisteredAggregate
            case malformedCommand
            case timedOut
            case conflictingMessageID
            case commandFailed
            case notRunning
            case resultExpired
            case malformedResult
            case foreignSchema
            case damagedSchema
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The database records another partition count for this cluster than the node was configured with; the
        /// node refuses to start.
        public static let partitionCountMismatch = Code(.partitionCountMismatch)
        /// Another live process already runs a node with this id; the node refuses to start.
        public static let nodeAlreadyLive = Code(.nodeAlreadyLive)
        /// A configuration value is out of range.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A command names an aggregate type that no node of the cluster registered (sending refuses it at once; a
        /// node that meets one in the inbox records it as failed and goes on).
        public static let unregisteredAggregate = Code(.unregisteredAggregate)
        /// A command's payload does not decode; it is recorded as failed and the node goes on.
        public static let malformedCommand = Code(.malformedCommand)
        /// The command's result did not arrive within the caller's time limit. The command is in the inbox and
        /// will run: waiting again with the same message id returns its result.
        public static let timedOut = Code(.timedOut)
        /// A message id was sent before with another stream or aggregate type.
        public static let conflictingMessageID = Code(.conflictingMessageID)
        /// The node could not run the command (its events could not be stored); the message says why.
        public static let commandFailed = Code(.commandFailed)
        /// The client or node is not running (its `run()` has not started or has returned).
        public static let notRunning = Code(.notRunning)
        /// The command ran, but its inbox row, which held the result, was deleted before the caller read it: its
        /// result was older than ``ClusterConfiguration/inboxRetention``.
        public static let resultExpired = Code(.resultExpired)
        /// A command's result in the inbox does not decode: it was written by a node that stores results in a form
        /// this version does not know, or the row was changed by hand.
        public static let malformedResult = Code(.malformedResult)
        /// The cluster's schema (`<store schema>_cluster`) holds objects the cluster did not create; the cluster
        /// refuses to use it and changes nothing there.
        public static let foreignSchema = Code(.foreignSchema)
        /// A table of the cluster's schema lacks a column the cluster created, or has it with another type than the
        /// one it created (compared exactly; changed by hand), or lacks a unique key the cluster relies on (its
        /// primary key, the inbox's on the message id): the node or client refuses to start, since its statements use
        /// those columns and keys as they were made, and changes nothing.
        public static let damagedSchema = Code(.damagedSchema)

        /// The code's name, such as `timedOut`.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What happened, in words.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// The code and the message.
    public var description: String { "ClusterError.\(code): \(message)" }
}
