import HTTPTypes
import Hummingbird

/// Without an access token, answers only requests addressed to a loopback name (`Host: 127.0.0.1:8080`,
/// `localhost`, `[::1]`), and others with 421.
///
/// A console with no token trusts that only this machine can reach it. A web page elsewhere could still make the
/// browser of someone on this machine send it requests, through a name of its own that it points at 127.0.0.1 (DNS
/// rebinding); such requests name that other host, and are refused here. A request without a `Host` passes: a browser
/// always sends one, and HTTP/1.0 needs none (the request's HTTP version is not known here).
///
/// A request with more than one `Host` line is refused with 400, as RFC 9112 (section 3.2) asks of such requests:
/// the request's authority is the first line's, and a proxy or a cache in front of the console may have read another.
/// (The request target's own authority, in the absolute form a client sends only to a proxy, is not seen here.)
struct LoopbackHostMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        // The first `Host` line became the request's authority; any other is still among its fields.
        if !request.headers[values: Self.host].isEmpty {
            return ConsoleResponses.json(
                ErrorView(error: "the request has more than one Host line; send one"), status: .badRequest)
        }
        guard let authority = request.head.authority, !Self.isLoopback(authority) else {
            return try await next(request, context)
        }
        return ConsoleResponses.json(
            ErrorView(
                error: "this console answers only requests addressed to a loopback address (127.0.0.1, or another "
                    + "of 127.0.0.0/8), localhost or [::1], not to "
                    + (authority.isEmpty ? "an empty Host" : authority)
                    + "; open it by one of those names, or give it an access token"),
            status: .misdirectedRequest)
    }

    private static var host: HTTPField.Name { HTTPField.Name("Host")! }

    /// Whether `authority` (a `Host` value, with or without a port) names this machine's loopback interface. A port
    /// must be digits only: `localhost:attacker.example` is not `localhost`.
    static func isLoopback(_ authority: String) -> Bool {
        var host = Substring(authority.lowercased())
        func isPort(_ text: Substring) -> Bool { !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber } }
        if host.hasPrefix("[") {
            guard let end = host.firstIndex(of: "]") else { return false }
            let rest = host[host.index(after: end)...]
            guard rest.isEmpty || (rest.first == ":" && isPort(rest.dropFirst())) else { return false }
            return host[host.index(after: host.startIndex)..<end] == "::1"
        }
        if let colon = host.lastIndex(of: ":") {
            guard isPort(host[host.index(after: colon)...]) else { return false }
            host = host[..<colon]
        }
        if host == "localhost" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
