#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A message with the facts that travel with it: its identity, the conversation it belongs to, what caused it, the
/// stream it is for, when it was made, string metadata, and where it has been handled.
///
/// Every message of one conversation shares a ``correlationID``: the message id of the message that started it. Each
/// caused message records its cause in ``causationID``. Make the first message of a conversation with
/// ``init(message:messageID:correlationID:streamID:timestamp:metadata:)`` and every message it leads to with
/// ``causing(_:streamID:metadata:)``, and the lineage follows by itself.
///
/// An envelope is a value; only its ``metadata`` and ``hops`` can change after it is made. The timestamp is kept to
/// whole microseconds (the initializers round it), so that an envelope survives encoding and decoding unchanged when
/// its message does. When `Message` is `Codable`, the envelope encodes as the JSON object described at
/// ``EnvelopeMetadata`` with one more key, `message`.
public struct MessageEnvelope<Message: Sendable>: Sendable {
    /// The message's own identifier, time-ordered.
    public let messageID: MessageID

    /// The identifier shared by every message of one conversation: the message id of the message that started it.
    public let correlationID: MessageID

    /// The identifier of the message that caused this one; `nil` for a message that started a conversation.
    public let causationID: MessageID?

    /// The stream (aggregate) the message is addressed to or was recorded in, if any.
    public let streamID: StreamID?

    /// When the envelope was made, to the microsecond.
    public let timestamp: Date

    /// Free-form string context, such as a tenant or user id; carried forward to the messages this one causes.
    public var metadata: [String: String]

    /// Where the message has been handled, oldest first.
    public var hops: [Hop]

    /// The message itself.
    public let message: Message

    /// Wraps a message that starts a conversation, or continues one whose correlation id the caller already has.
    ///
    /// - Parameters:
    ///   - message: the message.
    ///   - messageID: its identifier. Defaults to a new, time-ordered one.
    ///   - correlationID: the conversation's identifier; `nil`, the default, uses `messageID`, starting a conversation.
    ///   - streamID: the stream the message is for, if any.
    ///   - timestamp: when the message was made; rounded to the nearest microsecond. Defaults to now.
    ///   - metadata: string context.
    ///
    /// The envelope has no cause and no hops.
    public init(
        message: Message,
        messageID: MessageID = MessageID(),
        correlationID: MessageID? = nil,
        streamID: StreamID? = nil,
        timestamp: Date = Date(),
        metadata: [String: String] = [:]
    ) {
        self.init(
            metadata: EnvelopeMetadata(
                messageID: messageID,
                correlationID: correlationID,
                streamID: streamID,
                timestamp: timestamp,
                metadata: metadata
            ),
            message: message
        )
    }

    /// Wraps a message caused by a recorded message, given that message's envelope metadata.
    ///
    /// The new envelope continues the cause's conversation: its correlation id is the cause's correlation id and its
    /// causation id is the cause's message id. The cause's metadata is carried forward, because metadata describes the
    /// conversation (tenant, user, locale) rather than one message; entries in `metadata` are added to it and win over
    /// the cause's entries with the same key. Neither the cause's stream nor its hops are carried: the new message has
    /// its own stream and has not been handled yet.
    ///
    /// - Parameters:
    ///   - message: the new message.
    ///   - cause: the metadata of the message that caused it.
    ///   - messageID: the new message's identifier. Defaults to a new, time-ordered one.
    ///   - streamID: the stream the new message is for, if any.
    ///   - timestamp: when the new message was made; rounded to the nearest microsecond. Defaults to now.
    ///   - metadata: entries to add to the cause's metadata.
    public init(
        message: Message,
        causedBy cause: EnvelopeMetadata,
        messageID: MessageID = MessageID(),
        streamID: StreamID? = nil,
        timestamp: Date = Date(),
        metadata: [String: String] = [:]
    ) {
        self.init(
            metadata: EnvelopeMetadata(
                messageID: messageID,
                correlationID: cause.correlationID,
                causationID: cause.messageID,
                streamID: streamID,
                timestamp: timestamp,
                metadata: cause.metadata.merging(metadata) { _, new in new }
            ),
            message: message
        )
    }

    /// Wraps a message caused by the message in another envelope.
    ///
    /// Derives correlation, causation and metadata exactly as the initializer that takes the cause's
    /// ``EnvelopeMetadata`` does: correlation from the cause's correlation id, causation from its message id, the
    /// cause's metadata merged with `metadata` (the new entries win), no stream and no hops carried.
    ///
    /// - Parameters:
    ///   - message: the new message.
    ///   - cause: the envelope of the message that caused it; its message may be of any type.
    ///   - messageID: the new message's identifier. Defaults to a new, time-ordered one.
    ///   - streamID: the stream the new message is for, if any.
    ///   - timestamp: when the new message was made; rounded to the nearest microsecond. Defaults to now.
    ///   - metadata: entries to add to the cause's metadata.
    public init<Cause>(
        message: Message,
        causedBy cause: MessageEnvelope<Cause>,
        messageID: MessageID = MessageID(),
        streamID: StreamID? = nil,
        timestamp: Date = Date(),
        metadata: [String: String] = [:]
    ) {
        self.init(
            message: message,
            causedBy: cause.metadataOnly,
            messageID: messageID,
            streamID: streamID,
            timestamp: timestamp,
            metadata: metadata
        )
    }

    /// Puts a message back into the envelope it was stored with, such as an event read from a store with its metadata.
    ///
    /// The result has exactly the identity, lineage, stream, timestamp, metadata and hops in `metadata`.
    public init(metadata: EnvelopeMetadata, message: Message) {
        self.messageID = metadata.messageID
        self.correlationID = metadata.correlationID
        self.causationID = metadata.causationID
        self.streamID = metadata.streamID
        self.timestamp = metadata.timestamp
        self.metadata = metadata.metadata
        self.hops = metadata.hops
        self.message = message
    }

    /// Everything in the envelope except the message, for storing beside an event.
    public var metadataOnly: EnvelopeMetadata {
        EnvelopeMetadata(
            messageID: messageID,
            correlationID: correlationID,
            causationID: causationID,
            streamID: streamID,
            timestamp: timestamp,
            metadata: metadata,
            hops: hops
        )
    }

    /// Wraps a message that this envelope's message caused, continuing its conversation.
    ///
    /// The new envelope has a new message id, this envelope's correlation id, this envelope's message id as its
    /// causation id, this envelope's metadata with `metadata` merged in (the new entries win), the given stream, the
    /// current time and no hops, as the `init(message:causedBy:…)` initializers derive them.
    ///
    /// - Parameters:
    ///   - message: the new message, of any type.
    ///   - streamID: the stream the new message is for, if any; the cause's stream is not inherited.
    ///   - metadata: entries to add to this envelope's metadata.
    public func causing<Next: Sendable>(
        _ message: Next,
        streamID: StreamID? = nil,
        metadata: [String: String] = [:]
    ) -> MessageEnvelope<Next> {
        MessageEnvelope<Next>(message: message, causedBy: self, streamID: streamID, metadata: metadata)
    }

    /// Records that the message was handled somewhere, after the hops already recorded.
    public mutating func append(hop: Hop) {
        hops.append(hop)
    }

    /// A copy of this envelope with `hop` recorded after the hops already there.
    public func addingHop(_ hop: Hop) -> MessageEnvelope {
        var copy = self
        copy.append(hop: hop)
        return copy
    }
}

extension MessageEnvelope: Equatable where Message: Equatable {}

extension MessageEnvelope: Hashable where Message: Hashable {}
