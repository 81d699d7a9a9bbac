#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Everything a ``MessageEnvelope`` carries except the message: its identity, lineage, stream, time, metadata and hops.
///
/// Event stores keep this beside each event, so that a recorded event can be put back into its envelope with
/// ``MessageEnvelope/init(metadata:message:)``; ``MessageEnvelope/metadataOnly`` takes it out of one. The dispatcher
/// stores it in a compact form of <doc:StoredEnvelopeForm>, binary (``binaryStoredForm(rowStreamID:)``) unless
/// configured for JSON (``storedForm(rowStreamID:)``); the `Codable` form below is the full one, which stores hold from
/// earlier versions and ``init(storedForm:rowStreamID:)`` still reads.
///
/// The timestamp is kept to whole microseconds (the initializer rounds it), so a value survives encoding and decoding
/// unchanged. It encodes as a JSON object with the keys `messageID`, `correlationID` (UUID strings), `timestamp`
/// (integer microseconds since 1970-01-01 UTC), and, when present, `causationID`, `streamID`, `metadata` (an object of
/// strings) and `hops` (an array of ``Hop``); absent values and empty collections are left out.
public struct EnvelopeMetadata: Hashable, Sendable, Codable {
    /// The message's own identifier, time-ordered.
    public let messageID: MessageID

    /// The identifier shared by every message of one conversation: the message id of the message that started it.
    public let correlationID: MessageID

    /// The identifier of the message that caused this one; `nil` for a message that started a conversation.
    public let causationID: MessageID?

    /// The stream (aggregate) the message is addressed to or was recorded in, if any.
    public let streamID: StreamID?

    /// When the message was created, to the microsecond.
    public let timestamp: Date

    /// Free-form string context, such as a tenant or user id; carried forward to the messages this one causes.
    public var metadata: [String: String]

    /// Where the message has been handled, oldest first.
    public var hops: [Hop]

    /// Creates envelope metadata from its parts.
    ///
    /// - Parameters:
    ///   - messageID: the message's identifier. Defaults to a new one.
    ///   - correlationID: the conversation's identifier; `nil`, the default, uses `messageID`, starting a conversation.
    ///   - causationID: the message that caused this one, if any.
    ///   - streamID: the stream the message belongs to, if any.
    ///   - timestamp: when the message was created; rounded to the nearest microsecond. Defaults to now.
    ///   - metadata: string context.
    ///   - hops: where the message has been handled, oldest first.
    public init(
        messageID: MessageID = MessageID(),
        correlationID: MessageID? = nil,
        causationID: MessageID? = nil,
        streamID: StreamID? = nil,
        timestamp: Date = Date(),
        metadata: [String: String] = [:],
        hops: [Hop] = []
    ) {
        self.messageID = messageID
        self.correlationID = correlationID ?? messageID
        self.causationID = causationID
        self.streamID = streamID
        self.timestamp = timestamp.roundedToMicroseconds
        self.metadata = metadata
        self.hops = hops
    }

    /// Decodes the JSON object described above; keys it does not know, such as an envelope's `message`, are ignored.
    ///
    /// Throws `DecodingError` when `messageID`, `correlationID` or `timestamp` is missing or a value is malformed.
    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder.container(keyedBy: EnvelopeCodingKeys.self))
    }

    /// Encodes the JSON object described above, leaving out absent values and empty collections.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: EnvelopeCodingKeys.self)
        try encode(to: &container)
    }

    /// Reads the metadata fields from a container that may hold a message too.
    init(from container: KeyedDecodingContainer<EnvelopeCodingKeys>) throws {
        self.init(
            messageID: try container.decode(MessageID.self, forKey: .messageID),
            correlationID: try container.decode(MessageID.self, forKey: .correlationID),
            causationID: try container.decodeIfPresent(MessageID.self, forKey: .causationID),
            streamID: try container.decodeIfPresent(StreamID.self, forKey: .streamID),
            timestamp: Date(microsecondsSince1970: try container.decode(Int64.self, forKey: .timestamp)),
            metadata: try container.decodeIfPresent([String: String].self, forKey: .metadata) ?? [:],
            hops: try container.decodeIfPresent([Hop].self, forKey: .hops) ?? []
        )
    }

    /// Writes the metadata fields into a container that may hold a message too.
    func encode(to container: inout KeyedEncodingContainer<EnvelopeCodingKeys>) throws {
        try container.encode(messageID, forKey: .messageID)
        try container.encode(correlationID, forKey: .correlationID)
        try container.encodeIfPresent(causationID, forKey: .causationID)
        try container.encodeIfPresent(streamID, forKey: .streamID)
        try container.encode(timestamp.microsecondsSince1970, forKey: .timestamp)
        if !metadata.isEmpty {
            try container.encode(metadata, forKey: .metadata)
        }
        if !hops.isEmpty {
            try container.encode(hops, forKey: .hops)
        }
    }
}

/// The JSON keys of an envelope; ``EnvelopeMetadata`` uses all but `message`.
enum EnvelopeCodingKeys: String, CodingKey {
    case messageID
    case correlationID
    case causationID
    case streamID
    case timestamp
    case metadata
    case hops
    case message
}
