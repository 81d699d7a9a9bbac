/// An expectation of a given-when-then scenario that did not hold, thrown by ``AggregateScenario``,
/// ``ProjectionScenario`` and ``ProcessManagerScenario``.
///
/// The kit throws instead of recording test issues, so it works with any test framework: let the error propagate
/// out of a throwing test (Swift Testing and XCTest both report it), or catch it. ``file`` and ``line`` point at the
/// `then…` call that failed; ``description`` includes them.
public struct ScenarioFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of expectation failed, as a value that can be compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unexpectedEvents
            case unexpectedError
            case missingError
            case unexpectedReadModel
            case unregisteredEvent
            case unexpectedCommands
            case repeatedCommands
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The command recorded other events than expected.
        public static let unexpectedEvents = Code(.unexpectedEvents)
        /// The command (or, for projections, applying the events) threw where success, or another error, was
        /// expected.
        public static let unexpectedError = Code(.unexpectedError)
        /// An error was expected but the command succeeded.
        public static let missingError = Code(.missingError)
        /// The read model did not match the expectation.
        public static let unexpectedReadModel = Code(.unexpectedReadModel)
        /// An event could not be written or read through the aggregate's `EventRegistry`: its kind is not
        /// registered, or it does not come back equal after encoding and decoding.
        public static let unregisteredEvent = Code(.unregisteredEvent)
        /// A process manager sent other commands than expected.
        public static let unexpectedCommands = Code(.unexpectedCommands)
        /// A process manager's commands recorded events again when the events that caused them were delivered
        /// again: they are not idempotent.
        public static let repeatedCommands = Code(.repeatedCommands)

        /// The code's name, such as `unexpectedEvents`.
        public var description: String { base.rawValue }
    }

    /// What kind of expectation failed.
    public let code: Code
    /// What was expected and what happened instead.
    public let message: String
    /// The file of the failed expectation, as `#fileID`.
    public let file: String
    /// The line of the failed expectation.
    public let line: Int

    /// Creates a failure; scenarios throw these.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// The message followed by where the expectation is.
    public var description: String {
        "\(message) (\(file):\(line))"
    }
}
