import Hummingbird

/// Lets a request through only when it carries the console's access token: as `Authorization: Bearer TOKEN`, or in
/// the HttpOnly cookie that `/login` sets. Others get 401, or on a page, the sign-in page.
///
/// `/login` and `/health/live` are open, so that a person can sign in and an orchestrator can tell the process is up.
struct AccessTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    static var cookieName: String { "whizbang_console_token" }

    let token: String

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        if path == "/login" || path == "/health/live" || path.hasPrefix("/assets/") {
            return try await next(request, context)
        }
        // The scheme's name is case-insensitive (RFC 9110, 11.1).
        if let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer "),
            Self.same(String(authorization.dropFirst("Bearer ".count)), token)
        {
            return try await next(request, context)
        }
        if let cookie = request.cookies[Self.cookieName], Self.same(cookie.value, token) {
            return try await next(request, context)
        }
        let wantsPage = !(path.hasPrefix("/api/") || path == "/metrics" || path.hasPrefix("/health/"))
        if wantsPage, request.method == .get {
            var response = ConsoleResponses.redirect(to: "/login")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        var response = ConsoleResponses.json(ErrorView(error: "this console needs its access token"), status: .unauthorized)
        response.headers[.wwwAuthenticate] = "Bearer"
        return response
    }

    /// Compares in time that depends on the lengths only, so that timing does not tell how much of a guess was right.
    static func same(_ given: String, _ expected: String) -> Bool {
        let left = Array(given.utf8)
        let right = Array(expected.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        for index in 0..<max(left.count, right.count) {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= a ^ b
        }
        return difference == 0
    }
}
