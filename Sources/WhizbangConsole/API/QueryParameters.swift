import Foundation
import Hummingbird

/// Reads and checks the query parameters of a console request; every bad value is a 400 with a short message.
struct QueryParameters: Sendable {
    private let values: [String: String]
    private let configuration: ConsoleConfiguration

    init(_ request: Request, configuration: ConsoleConfiguration) {
        self.init(query: request.uri.query, configuration: configuration)
    }

    /// Reads a raw query as HTML forms write it (`application/x-www-form-urlencoded`): `+` is a space, `%XX` a byte;
    /// a parameter given twice keeps its first value. A value that is not valid percent-encoded UTF-8 is kept as
    /// written, so that the check of that parameter refuses it by name.
    init(query: String?, configuration: ConsoleConfiguration) {
        var values: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Self.decoded(parts[0])
            if values[key] == nil { values[key] = parts.count > 1 ? Self.decoded(parts[1]) : "" }
        }
        self.values = values
        self.configuration = configuration
    }

    private static func decoded(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// A parameter that is `true` or `false`; `defaultValue` when absent.
    func flag(_ name: String, default defaultValue: Bool) throws(ConsoleRequestError) -> Bool {
        switch values[name] {
        case nil: return defaultValue
        case "true": return true
        case "false": return false
        case let text?: throw .badRequest("\(name) must be true or false, not '\(Self.clipped(text))'")
        }
    }

    /// A text parameter, or `nil` when absent.
    func text(_ name: String) -> String? {
        values[name]
    }

    /// A whole-number parameter from `minimum` on, or `defaultValue` when absent.
    func position(_ name: String, default defaultValue: UInt64, minimum: UInt64 = 0) throws(ConsoleRequestError)
        -> UInt64
    {
        guard let text = values[name] else { return defaultValue }
        guard let value = UInt64(text), value >= minimum else {
            throw .badRequest(
                "\(name) must be a whole number from \(minimum) to \(UInt64.max), not '\(Self.clipped(text))'")
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
