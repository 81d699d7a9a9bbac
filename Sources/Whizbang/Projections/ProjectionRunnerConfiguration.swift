/// How a ``ProjectionRunner`` reads the log.
///
/// Not nested in the generic runner, so that code which configures one does not name the store type.
public struct ProjectionRunnerConfiguration: Sendable {
    /// The most events handed to one ``Projection/apply(_:)`` call, and so the most events between checkpoints.
    /// Larger batches replay faster; smaller ones redeliver less after a crash. Values below 1 count as 1.
    /// Default: 512.
    public var batchSize: Int

    /// A configuration with the documented defaults.
    public init() {
        self.batchSize = 512
    }
}
