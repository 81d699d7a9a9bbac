/// The identifier of an event stream: one aggregate's history.
///
/// Any non-empty string of at most ``maximumLength`` UTF-8 bytes without a NUL character; stores reject other values
/// with ``EventStoreError/Code/invalidStreamID`` before writing anything.
///
/// ## Identity
///
/// Two stream ids are the same stream exactly when their UTF-8 bytes are the same, as in KurrentDB and
/// SqlStreamStore. No Unicode normalisation and no case folding take place: `"café"` written with the precomposed
/// `é` (U+00E9) and `"café"` written as `e` followed by a combining acute accent (U+0065 U+0301) are two different
/// streams, and so are `"Account-1"` and `"account-1"`. Equality, hashing and ordering follow the bytes, so a
/// `Dictionary` or `Set` keyed by `StreamID` keeps the two apart, where one keyed by `String` (whose `==` is
/// canonical equivalence) would merge them. Every store applies this rule; normalise ids before they reach the
/// store if an application wants equivalent spellings to name one stream.
public struct StreamID: Hashable, Comparable, Sendable, Codable, ExpressibleByStringLiteral,
    LosslessStringConvertible
{
    /// The longest stream id, in UTF-8 bytes, that stores accept: 1,024.
    public static let maximumLength = 1024

    /// The identifier's text.
    public let rawValue: String
    /// The hash of `rawValue`'s UTF-8 bytes, computed once: a command's stream id is hashed by the lane pool, the
    /// repository's cache and the store, several times each, and hashing the text every time cost more than the rest
    /// of the lookups.
    @usableFromInline let textHash: Int

    /// Wraps a string; stores validate it when it is used.
    public init(_ rawValue: String) {
        self.rawValue = rawValue
        self.textHash = UTF8Bytes.hash(rawValue)
    }

    /// Wraps a string literal, as in `let id: StreamID = "account-42"`; stores validate it when it is used.
    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// Whether two identifiers have the same UTF-8 bytes (not whether their texts are canonically equivalent).
    @inlinable
    public static func == (lhs: StreamID, rhs: StreamID) -> Bool {
        lhs.textHash == rhs.textHash && UTF8Bytes.equal(lhs.rawValue, rhs.rawValue)
    }

    /// Feeds the identifier's UTF-8 bytes, through their hash computed once, into `hasher`.
    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(textHash)
    }

    /// The identifier's text, ``rawValue``.
    public var description: String { rawValue }

    /// Orders identifiers by their UTF-8 bytes, which is the order of their Unicode scalar values.
    public static func < (lhs: StreamID, rhs: StreamID) -> Bool {
        UTF8Bytes.precede(lhs.rawValue, rhs.rawValue)
    }

    /// Throws ``EventStoreError/Code/invalidStreamID`` unless the id is non-empty, at most ``maximumLength`` bytes
    /// and free of NUL characters.
    public func validate() throws(EventStoreError) {
        let utf8 = rawValue.utf8
        let length = utf8.count
        guard length > 0, length <= Self.maximumLength else {
            throw EventStoreError(
                .invalidStreamID,
                streamID: self,
                message: length == 0
                    ? "a stream id must not be empty"
                    : "a stream id is at most \(Self.maximumLength) UTF-8 bytes; this one has \(length)"
            )
        }
        guard !utf8.contains(0) else {
            throw EventStoreError(
                .invalidStreamID, streamID: self, message: "a stream id must not contain a NUL character")
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
