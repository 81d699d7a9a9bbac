/// How a ``ProjectionRunner`` reads the log.
///
/// Not nested in the generic runner, so that code which configures one does not name the store type.
public struct ProjectionRunnerConfiguration: Sendable {
    /// The most events handed to one ``Projection/apply(_:)`` call, and so the most events between checkpoints.
    /// Larger batches replay faster; smaller ones redeliver less after a crash. Values below 1 count as 1.
    /// Default: 512.
    public var batchSize: Int
    /// Where the runner publishes its status (running, rebuilding, stopped, failed with the error) under the
    /// projection's name, for a console in the same process. Default `nil`: the status is not published.
    public var statusBoard: ProjectionStatusBoard?

    /// A configuration with the documented defaults.
    public init() {
        self.batchSize = 512
        self.statusBoard = nil
    }
}
