/// Wraps the dispatch of each command, and the append of its events, in spans of a tracing system.
///
/// The core module depends on no tracing library; the `WhizbangTracing` package in `Integrations/Tracing` implements
/// this protocol with swift-distributed-tracing. Set an implementation in ``DispatcherConfiguration/instrumentation``.
///
/// Context travels in the envelope's metadata as string entries (for W3C Trace Context, `traceparent` and
/// `tracestate`): the dispatcher passes the command envelope's metadata as the parent carrier, and stores the entries
/// the span injects in the metadata of the events it appends, so that work caused by those events joins the trace. A
/// `traceparent` entry is also recorded in the command's ``Hop``.
public protocol DispatchInstrumentation: Sendable {
    /// Runs `operation` inside a span named `name`.
    ///
    /// - Parameters:
    ///   - name: the span's name, such as `"whizbang.send"` or `"whizbang.append"`.
    ///   - parent: propagation entries read from the message's metadata; empty for a new trace.
    ///   - attributes: attributes to record on the span (aggregate, stream, message id).
    ///   - operation: the work, which receives the propagation entries of the new span to pass on.
    /// - Returns: what `operation` returns; an error it throws is recorded on the span and rethrown.
    func withSpan<Result: Sendable>(
        _ name: String,
        parent: [String: String],
        attributes: [String: String],
        _ operation: @Sendable ([String: String]) async throws -> Result
    ) async throws -> Result
}
