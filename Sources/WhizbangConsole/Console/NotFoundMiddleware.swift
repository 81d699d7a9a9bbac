import Hummingbird

/// Answers a path the console does not have with its 404: the HTML error page, or `{"error": ...}` under `/api/`.
struct NotFoundMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            let problem = ConsoleRequestError(
                status: error.status,
                message: error.status == .notFound
                    ? "the console has no page at \(QueryParameters.clipped(request.uri.path))"
                    : "the console only reads: \(request.method) is not allowed here")
            return request.uri.path.hasPrefix("/api/")
                ? ConsoleResponses.apiError(problem) : ConsoleResponses.pageError(problem)
        }
    }
}
