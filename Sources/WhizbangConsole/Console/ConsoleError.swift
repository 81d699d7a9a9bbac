/// Why a console cannot start.
///
/// Compare ``code`` with the static members, as in `error.code == .insecureAddress`; new codes may be added.
public struct ConsoleError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case insecureAddress
            case invalidConfiguration
            case cannotListen
        }

        private let value: Value

        private init(_ value: Value) {
            self.value = value
        }

        /// The console was told to listen on an address other than loopback without an access token.
        public static let insecureAddress = Code(.insecureAddress)
        /// A configuration value is out of range (a page size of 0, an empty token, an empty projection name).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The console could not listen on its address: the port is in use, or the address is not this machine's.
        public static let cannotListen = Code(.cannotListen)

        /// The code's name.
        public var description: String {
            switch value {
            case .insecureAddress: "insecureAddress"
            case .invalidConfiguration: "invalidConfiguration"
            case .cannotListen: "cannotListen"
            }
        }
    }

    /// The kind of failure.
    public let code: Code
    /// What was wrong and what to do about it, in one sentence.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
