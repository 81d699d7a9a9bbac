import Hummingbird

/// Sends a `HEAD` response without its body (the console's routes answer `HEAD` as `GET`), and answers what the
/// routes do not: a path the console does not have with its 404
/// (the HTML error page, or `{"error": ...}` under `/api/`); and a method other than `GET` and `HEAD` (but `POST` to
/// `/login`) with 405 and the `Allow` header, since the console only reads.
struct NotFoundMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let isHead = request.method == .head
        do {
            let response = try await next(request, context)
            return isHead ? Response(status: response.status, headers: response.headers) : response
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            let path = request.uri.path
            let reads = [HTTPRequest.Method.get, .head]
            let problem: ConsoleRequestError
            var allowed: String?
            if reads.contains(request.method) {
                problem = ConsoleRequestError(
                    status: .notFound, message: "the console has no page at \(QueryParameters.clipped(path))")
            } else {
                problem = ConsoleRequestError(
                    status: .methodNotAllowed, message: "the console only reads: \(request.method) is not allowed here")
                allowed = path == "/login" ? "GET, HEAD, POST" : "GET, HEAD"
            }
            var response =
                path.hasPrefix("/api/") ? ConsoleResponses.apiError(problem) : ConsoleResponses.pageError(problem)
            if let allowed { response.headers[.allow] = allowed }
            return isHead ? Response(status: response.status, headers: response.headers) : response
        }
    }
}
