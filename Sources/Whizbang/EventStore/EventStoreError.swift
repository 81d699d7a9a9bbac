/// An error from an event store, with the context needed to act on it.
///
/// Compare ``code`` with the static members of ``Code``, for example `error.code == .wrongExpectedVersion`. New codes
/// may be added without breaking the API.
public struct EventStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can be compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case wrongExpectedVersion
            case duplicateEventID
            case invalidStreamID
            case invalidArgument
            case payloadTooLarge
            case notADatabase
            case corruptDatabase
            case incompatibleSchema
            case readOnly
            case storageFull
            case closed
            case unavailable
            case inlineProjectionFailed
            case storageFailure
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The stream's version was not the one the append expected; ``EventStoreError/streamID``,
        /// ``EventStoreError/expectedVersion`` and ``EventStoreError/actualVersion`` say which. Also thrown when a
        /// retried append does not match what was stored (extra, missing, reordered or different events).
        public static let wrongExpectedVersion = Code(.wrongExpectedVersion)
        /// An event id in the append is already stored, at another place than this append would put it.
        public static let duplicateEventID = Code(.duplicateEventID)
        /// A stream id is empty or longer than ``StreamID/maximumLength`` bytes.
        public static let invalidStreamID = Code(.invalidStreamID)
        /// An argument is out of its range (a negative limit, an empty event type, text that is not UTF-8).
        public static let invalidArgument = Code(.invalidArgument)
        /// An event, its metadata or a snapshot is larger than the store's configured limit.
        public static let payloadTooLarge = Code(.payloadTooLarge)
        /// The file is not a database of this kind.
        public static let notADatabase = Code(.notADatabase)
        /// The database is damaged.
        public static let corruptDatabase = Code(.corruptDatabase)
        /// The database was written by a newer schema than this version understands, or has an unknown layout.
        public static let incompatibleSchema = Code(.incompatibleSchema)
        /// The database, or its directory, cannot be written.
        public static let readOnly = Code(.readOnly)
        /// The disk, the file system or a file size limit is full; the failed write left committed data intact.
        public static let storageFull = Code(.storageFull)
        /// The store was closed.
        public static let closed = Code(.closed)
        /// The storage could not be reached in time (a lost connection, a server that is down or does not answer
        /// within the store's deadline). Retryable: the store reconnects by itself, and the same call may succeed
        /// later. An append that failed so may still have committed; retry it with the same event ids and expected
        /// version, which is idempotent.
        public static let unavailable = Code(.unavailable)
        /// An inline projection threw while applying the events of an append, so the append was not committed.
        public static let inlineProjectionFailed = Code(.inlineProjectionFailed)
        /// The storage engine failed in another way; ``EventStoreError/message`` has its words.
        public static let storageFailure = Code(.storageFailure)

        /// The code's name, such as `wrongExpectedVersion`.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The stream concerned, where there is one.
    public let streamID: StreamID?
    /// The version the append expected, for ``Code/wrongExpectedVersion``.
    public let expectedVersion: ExpectedVersion?
    /// The stream's actual version, for ``Code/wrongExpectedVersion``.
    public let actualVersion: UInt64?
    /// A human-readable explanation, including the storage engine's own message where there is one.
    public let message: String
    /// The storage engine's own error that caused this one, such as the SQLite store's `SQLiteError` with SQLite's
    /// result code and message; `nil` when the store decided the error itself. Not part of `==` and hashing.
    public let underlyingError: (any Error & Sendable)?

    /// Creates an error; stores use this.
    public init(
        _ code: Code,
        streamID: StreamID? = nil,
        expectedVersion: ExpectedVersion? = nil,
        actualVersion: UInt64? = nil,
        message: String,
        underlyingError: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.streamID = streamID
        self.expectedVersion = expectedVersion
        self.actualVersion = actualVersion
        self.message = message
        self.underlyingError = underlyingError
    }

    /// Whether two errors have the same code, context and message; their underlying errors are not compared.
    public static func == (lhs: EventStoreError, rhs: EventStoreError) -> Bool {
        lhs.code == rhs.code && lhs.streamID == rhs.streamID && lhs.expectedVersion == rhs.expectedVersion
            && lhs.actualVersion == rhs.actualVersion && lhs.message == rhs.message
    }

    /// Feeds the code, context and message into `hasher`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(streamID)
        hasher.combine(expectedVersion)
        hasher.combine(actualVersion)
        hasher.combine(message)
    }

    /// A ``Code/wrongExpectedVersion`` error for `streamID`.
    public static func wrongExpectedVersion(
        _ streamID: StreamID,
        expected: ExpectedVersion,
        actual: UInt64,
        message: String? = nil
    ) -> EventStoreError {
        EventStoreError(
            .wrongExpectedVersion,
            streamID: streamID,
            expectedVersion: expected,
            actualVersion: actual,
            message: message ?? "stream '\(streamID)' is at version \(actual), the append expected \(expected)"
        )
    }

    /// The code and the message, as `EventStoreError.<code>: <message>`.
    public var description: String {
        "EventStoreError.\(code): \(message)"
    }
}
