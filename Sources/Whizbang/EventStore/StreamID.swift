/// The identifier of an event stream: one aggregate's history.
///
/// Any non-empty string of at most ``maximumLength`` UTF-8 bytes; stores reject other values with
/// ``EventStoreError/Code/invalidStreamID`` before writing anything.
public struct StreamID: Hashable, Comparable, Sendable, Codable, ExpressibleByStringLiteral,
    LosslessStringConvertible
{
    /// The longest stream id, in UTF-8 bytes, that stores accept: 1,024.
    public static let maximumLength = 1024

    /// The identifier's text.
    public let rawValue: String
    /// `rawValue`'s hash, computed once: a command's stream id is hashed by the lane pool, the repository's cache
    /// and the store, several times each, and hashing the text every time cost more than the rest of the lookups.
    @usableFromInline let textHash: Int

    /// Wraps a string; stores validate it when it is used.
    public init(_ rawValue: String) {
        self.rawValue = rawValue
        self.textHash = rawValue.hashValue
    }

    /// Wraps a string literal, as in `let id: StreamID = "account-42"`; stores validate it when it is used.
    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// Whether two identifiers have the same text.
    @inlinable
    public static func == (lhs: StreamID, rhs: StreamID) -> Bool {
        lhs.textHash == rhs.textHash && lhs.rawValue == rhs.rawValue
    }

    /// Feeds the identifier's text, through its hash computed once, into `hasher`.
    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(textHash)
    }

    /// The identifier's text, ``rawValue``.
    public var description: String { rawValue }

    /// Orders identifiers by their text (by Unicode scalar values, as `String` does).
    public static func < (lhs: StreamID, rhs: StreamID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Throws ``EventStoreError/Code/invalidStreamID`` unless the id is non-empty and at most ``maximumLength`` bytes.
    public func validate() throws(EventStoreError) {
        let length = rawValue.utf8.count
        guard length > 0, length <= Self.maximumLength else {
            throw EventStoreError(
                .invalidStreamID,
                streamID: self,
                message: length == 0
                    ? "a stream id must not be empty"
                    : "a stream id is at most \(Self.maximumLength) UTF-8 bytes; this one has \(length)"
            )
        }
    }

    /// Decodes an identifier from a single string value.
    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(String.self))
    }

    /// Encodes the identifier as a single string value, its ``rawValue``.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
