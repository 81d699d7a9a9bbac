#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension RecordedEvent {
    /// The envelope of the command that recorded this event, decoded from ``metadata``; `nil` if the event was
    /// stored without metadata.
    ///
    /// Every event a command records carries that command's envelope, so its ``EnvelopeMetadata/messageID`` is the
    /// event's causation id.
    ///
    /// The metadata may be in the binary or compact JSON stored form, or the full JSON form
    /// (see ``EnvelopeMetadata/init(storedForm:rowStreamID:)``); a compact form that leaves the stream out takes this
    /// event's ``streamID``.
    ///
    /// - Throws: `DecodingError` if ``metadata`` is not an encoded ``EnvelopeMetadata``.
    public func commandEnvelope() throws -> EnvelopeMetadata? {
        metadata.isEmpty ? nil : try EnvelopeMetadata(storedForm: metadata, rowStreamID: streamID)
    }

    /// The event's own envelope, to pass as the cause of the messages it leads to.
    ///
    /// Its message id is ``eventID``; its correlation id, metadata and hops are those of the command that recorded
    /// the event, and its causation id is that command's message id; its stream is ``streamID`` and its timestamp
    /// ``recordedAt``. An event stored without metadata starts a conversation: its correlation id is its own id.
    ///
    /// - Throws: `DecodingError` if ``metadata`` is not an encoded ``EnvelopeMetadata``.
    public func eventEnvelope() throws -> EnvelopeMetadata {
        guard let command = try commandEnvelope() else { return conversationStartingEnvelope }
        return EnvelopeMetadata(
            messageID: eventID,
            correlationID: command.correlationID,
            causationID: command.messageID,
            streamID: streamID,
            timestamp: recordedAt,
            metadata: command.metadata,
            hops: command.hops
        )
    }

    /// The envelope of an event with no known cause: it starts its own conversation.
    var conversationStartingEnvelope: EnvelopeMetadata {
        EnvelopeMetadata(messageID: eventID, streamID: streamID, timestamp: recordedAt)
    }
}
