import Hummingbird

/// A request the console cannot answer: a bad parameter (400), something that is not there (404), or a store that
/// did not answer in time (503). Pages render it as an HTML error page and the API as `{"error": "..."}`.
struct ConsoleRequestError: Error, Sendable, CustomStringConvertible {
    /// The status the response carries.
    var status: HTTPResponse.Status
    /// One short sentence for the caller.
    var message: String

    var description: String { "\(status.code): \(message)" }

    static func badRequest(_ message: String) -> ConsoleRequestError {
        ConsoleRequestError(status: .badRequest, message: message)
    }

    static func notFound(_ message: String) -> ConsoleRequestError {
        ConsoleRequestError(status: .notFound, message: message)
    }

    static func unavailable(_ message: String) -> ConsoleRequestError {
        ConsoleRequestError(status: .serviceUnavailable, message: message)
    }
}
