/// An envelope encodes as its ``EnvelopeMetadata`` fields plus a `message` key holding the encoded message.
extension MessageEnvelope: Codable where Message: Codable {
    /// Decodes an envelope from the JSON object described at ``EnvelopeMetadata`` plus its `message` key.
    ///
    /// Throws `DecodingError` when a required key (`messageID`, `correlationID`, `timestamp`, `message`) is missing
    /// or a value is malformed.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: EnvelopeCodingKeys.self)
        self.init(
            metadata: try EnvelopeMetadata(from: container),
            message: try container.decode(Message.self, forKey: .message)
        )
    }

    /// Encodes the envelope's metadata fields and its message under the `message` key.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: EnvelopeCodingKeys.self)
        try metadataOnly.encode(to: &container)
        try container.encode(message, forKey: .message)
    }
}
