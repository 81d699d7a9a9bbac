import HTTPTypes
import Hummingbird

/// Adds the headers that keep a page from being framed, sniffed or made to load anything from elsewhere.
///
/// The Content-Security-Policy allows only the console's own stylesheet, script and live-update connection: no
/// inline script or style, no other origin, no plug-ins, no framing, forms posting to the console only.
///
/// An error that Hummingbird would render after the middleware (413 for a body over its limit, any `HTTPError`) is
/// rendered here, with the same status and message, so that it carries the headers too. Other errors pass on, and
/// Hummingbird answers them with an empty 500.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static var contentSecurityPolicy: String {
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    }

    private static var referrerPolicy: HTTPField.Name { HTTPField.Name("Referrer-Policy")! }
    private static var frameOptions: HTTPField.Name { HTTPField.Name("X-Frame-Options")! }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.referrerPolicy] = "no-referrer"
        response.headers[Self.frameOptions] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}
