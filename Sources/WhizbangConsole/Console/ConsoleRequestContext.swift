public import Hummingbird
public import NIOCore

/// The request context of the console's own router: Hummingbird's basic context, plus the connection the request
/// came on.
///
/// With it the console can close a connection whose client has stopped taking a response, once the response's time
/// is up or graceful shutdown has begun (see ``ConsoleConfiguration/maximumLiveDuration``). Mounted on a router with
/// another context, the console cannot close the connection: such a write then waits until the client reads or the
/// server's task is cancelled.
public struct ConsoleRequestContext: RequestContext {
    /// Hummingbird's own values for the request.
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    public let channel: any Channel

    /// Creates the context of a request that came on `source.channel`.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = CoreRequestContextStorage(source: source)
        self.channel = source.channel
    }
}
