/// A rule of a contract that a store broke, thrown by an ``EventStoreContractCheck``.
///
/// Its ``description`` names the rule and what the store did instead; ``file`` and ``line`` point at the
/// expectation in the contract suite that failed.
public struct ContractViolation: Error, Sendable, CustomStringConvertible {
    /// What the rule required and what the store did.
    public let message: String
    /// The file of the contract suite holding the failed expectation, as `#fileID`.
    public let file: String
    /// The line of the failed expectation.
    public let line: Int

    /// Creates a violation; checks throw these.
    public init(_ message: String, file: String = #fileID, line: Int = #line) {
        self.message = message
        self.file = file
        self.line = line
    }

    /// The message followed by where the expectation is.
    public var description: String {
        "\(message) (\(file):\(line))"
    }
}
