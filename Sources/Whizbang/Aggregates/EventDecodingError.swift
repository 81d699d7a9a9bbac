/// A stored event that could not be decoded, with where it is stored and why it failed.
///
/// Thrown when an aggregate is loaded (``Repository/load(_:)``), when a projection or process manager decodes an
/// event (``RecordedEvent/decode(as:)``) and by ``EventRegistry/decode(_:)``. It names the event's stream, its version
/// in the stream, its global position, its stored type name and its schema version, and
/// keeps the error of the codec or upcaster in ``underlyingError``.
public struct EventDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why the event could not be decoded, as a value that can be compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unknownTypeName
            case unknownSchemaVersion
            case undecodablePayload
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No decoder is registered for the stored type name.
        public static let unknownTypeName = Code(.unknownTypeName)
        /// The type name is registered, but nothing reads the event's schema version: the event was written by newer
        /// code, or an upcaster of the chain to the current version is missing.
        public static let unknownSchemaVersion = Code(.unknownSchemaVersion)
        /// A decoder is registered, but the payload does not decode with it (or its upcaster threw).
        public static let undecodablePayload = Code(.undecodablePayload)

        /// The code's name, such as `undecodablePayload`.
        public var description: String { base.rawValue }
    }

    /// Why the event could not be decoded.
    public let code: Code
    /// The stream the event belongs to.
    public let streamID: StreamID
    /// The event's version in its stream, starting at 1.
    public let streamVersion: UInt64
    /// The event's position in the store's global log.
    public let position: UInt64
    /// The event's id.
    public let eventID: MessageID
    /// The stored type name, such as `"Deposited"`.
    public let typeName: String
    /// The schema version stored with the event (``RecordedEvent/schemaVersion``). Optional for source
    /// compatibility; every error made from a recorded event has one.
    public let schemaVersion: Int?
    /// The error of the codec or upcaster (often a `DecodingError`), or the registry's ``EventCodingError`` for an
    /// unknown type name. Not part of `==` and hashing.
    public let underlyingError: any Error

    /// Creates the error for `event`.
    ///
    /// - Parameters:
    ///   - code: why the event could not be decoded.
    ///   - event: the stored event; its stream, version, position, id and type name are kept.
    ///   - schemaVersion: the schema version to report. Default: `nil`, the event's own
    ///     (``RecordedEvent/schemaVersion``).
    ///   - underlyingError: the error that stopped the decoding.
    public init(_ code: Code, event: RecordedEvent, schemaVersion: Int? = nil, underlyingError: any Error) {
        self.code = code
        self.streamID = event.streamID
        self.streamVersion = event.streamVersion
        self.position = event.position
        self.eventID = event.eventID
        self.typeName = event.eventType
        self.schemaVersion = schemaVersion ?? event.schemaVersion
        self.underlyingError = underlyingError
    }

    /// Whether two errors have the same code and context; their underlying errors are not compared.
    public static func == (lhs: EventDecodingError, rhs: EventDecodingError) -> Bool {
        lhs.code == rhs.code && lhs.streamID == rhs.streamID && lhs.streamVersion == rhs.streamVersion
            && lhs.position == rhs.position && lhs.eventID == rhs.eventID && lhs.typeName == rhs.typeName
            && lhs.schemaVersion == rhs.schemaVersion
    }

    /// Feeds the code and context into `hasher`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(streamID)
        hasher.combine(streamVersion)
        hasher.combine(position)
        hasher.combine(eventID)
        hasher.combine(typeName)
        hasher.combine(schemaVersion)
    }

    /// The code, the event's place and type, and the underlying error, in one line.
    public var description: String {
        let schema = schemaVersion.map { " schema version \($0)," } ?? ""
        return "EventDecodingError.\(code): event '\(typeName)',\(schema) stream '\(streamID)' version "
            + "\(streamVersion), position \(position), id \(eventID): \(underlyingError)"
    }
}
