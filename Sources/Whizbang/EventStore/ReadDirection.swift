/// The order in which to read a stream.
public enum ReadDirection: Hashable, Sendable {
    /// Oldest first: versions from the start version upwards.
    case forwards
    /// Newest first: versions from the start version downwards.
    case backwards
}
