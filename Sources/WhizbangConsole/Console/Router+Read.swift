import Hummingbird

extension Router {
    /// Adds `handler` at `path` for `GET` and for `HEAD`, whose response ``NotFoundMiddleware`` sends without its
    /// body: every page of the console reads.
    @discardableResult
    func read(
        _ path: RouterPath,
        use handler: @Sendable @escaping (Request, Context) async throws -> some ResponseGenerator
    ) -> Self {
        get(path, use: handler)
        return head(path, use: handler)
    }
}
