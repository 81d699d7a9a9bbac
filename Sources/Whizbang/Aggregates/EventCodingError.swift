/// An event that could not be encoded or decoded.
public struct EventCodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can be compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unknownTypeName
            case unknownSchemaVersion
            case unregisteredEvent
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A stored event's type name is not in the registry.
        public static let unknownTypeName = Code(.unknownTypeName)
        /// A stored event's type name is in the registry, but not at the event's schema version: the event was written
        /// by newer code, or an upcaster is missing.
        public static let unknownSchemaVersion = Code(.unknownSchemaVersion)
        /// An event value matches no registered kind, so it cannot be written.
        public static let unregisteredEvent = Code(.unregisteredEvent)

        /// The code's name, such as `unknownTypeName`.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The type name concerned: the stored name, or the event's Swift description for an unregistered event.
    public let typeName: String

    /// The stored schema version concerned, for ``Code/unknownSchemaVersion``; `nil` otherwise.
    public let schemaVersion: Int?
    /// More about the failure, such as which link of an upcaster chain is missing; may be empty.
    public let detail: String

    /// Creates the error.
    ///
    /// - Parameters:
    ///   - code: what went wrong.
    ///   - typeName: the type name concerned.
    ///   - schemaVersion: the schema version concerned, if any. Default: `nil`.
    ///   - detail: more about the failure. Default: empty.
    public init(_ code: Code, typeName: String, schemaVersion: Int? = nil, detail: String = "") {
        self.code = code
        self.typeName = typeName
        self.schemaVersion = schemaVersion
        self.detail = detail
    }

    /// The code and the type name, in a sentence.
    public var description: String {
        let more = detail.isEmpty ? "" : ": \(detail)"
        return switch code {
        case .unknownTypeName: "EventCodingError.unknownTypeName: no decoder is registered for '\(typeName)'"
        case .unknownSchemaVersion:
            "EventCodingError.unknownSchemaVersion: '\(typeName)' has no decoder for schema version "
                + "\(schemaVersion.map(String.init) ?? "?")\(more)"
        default: "EventCodingError.unregisteredEvent: no registered event type matches \(typeName)"
        }
    }
}
