/// What a policy rule can match on: the message's type, its stream and its metadata.
public struct PolicyContext: Sendable {
    /// The message's type name, for example `"Account.Command"`.
    public var messageType: String
    /// The stream the message is addressed to, if any.
    public var streamID: StreamID?
    /// The envelope's metadata.
    public var metadata: [String: String]

    /// Creates a context.
    public init(messageType: String, streamID: StreamID?, metadata: [String: String]) {
        self.messageType = messageType
        self.streamID = streamID
        self.metadata = metadata
    }
}
