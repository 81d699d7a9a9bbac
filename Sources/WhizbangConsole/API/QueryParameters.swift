import Hummingbird

/// Reads and checks the query parameters of a console request; every bad value is a 400 with a short message.
struct QueryParameters: Sendable {
    private let values: [String: String]
    private let configuration: ConsoleConfiguration

    init(_ request: Request, configuration: ConsoleConfiguration) {
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            values[String(key)] = String(value)
        }
        self.values = values
        self.configuration = configuration
    }

    /// A text parameter, or `nil` when absent.
    func text(_ name: String) -> String? {
        values[name]
    }

    /// A non-negative integer parameter, or `defaultValue` when absent.
    func position(_ name: String, default defaultValue: UInt64) throws(ConsoleRequestError) -> UInt64 {
        guard let text = values[name] else { return defaultValue }
        guard let value = UInt64(text) else {
            throw .badRequest("\(name) must be a whole number from 0 to \(UInt64.max), not '\(Self.clipped(text))'")
        }
        return value
    }

    /// The page size: `limit` when given (1 up to the configured maximum), the configured default otherwise.
    func limit() throws(ConsoleRequestError) -> Int {
        guard let text = values["limit"] else { return configuration.defaultPageSize }
        guard let value = Int(text), value > 0, value <= configuration.maximumPageSize else {
            throw .badRequest("limit must be from 1 to \(configuration.maximumPageSize), not '\(Self.clipped(text))'")
        }
        return value
    }

    /// A value quoted back in a message, cut short so that a long parameter cannot make a long response.
    static func clipped(_ text: String) -> String {
        text.count > 40 ? String(text.prefix(40)) + "…" : text
    }
}
