public import Tracing
public import Whizbang

/// Records Whizbang's dispatch and append spans with swift-distributed-tracing.
///
/// Set it as the dispatcher's `DispatcherConfiguration.instrumentation`. Each span's parent is taken from
/// the propagation entries in the message's metadata (extracted with the tracer's own format, such as W3C
/// `traceparent`), or from the task's current `ServiceContext` when the metadata has none; the new span's entries are
/// injected for the dispatcher to store with the events it appends.
public struct DistributedTracingInstrumentation: DispatchInstrumentation {
    private let tracer: (any Tracer)?

    /// Creates the instrumentation.
    ///
    /// - Parameter tracer: the tracer to use, or `nil` for the one bootstrapped in `InstrumentationSystem`, read at
    ///   each span so that bootstrapping later still takes effect.
    public init(tracer: (any Tracer)? = nil) {
        self.tracer = tracer
    }

    /// Runs `operation` in a span named `name` with `attributes`, a child of the span that `parent` names (or of the
    /// task's current `ServiceContext`), passing it the new span's propagation entries; an error `operation` throws
    /// is recorded on the span and rethrown.
    public func withSpan<Result: Sendable>(
        _ name: String,
        parent: [String: String],
        attributes: [String: String],
        _ operation: @Sendable ([String: String]) async throws -> Result
    ) async throws -> Result {
        let tracer = self.tracer ?? InstrumentationSystem.tracer
        var context = ServiceContext.current ?? .topLevel
        if !parent.isEmpty {
            tracer.extract(parent, into: &context, using: DictionaryExtractor())
        }
        let span = tracer.startSpan(name, context: context, ofKind: .internal)
        defer { span.end() }
        for (key, value) in attributes { span.attributes[key] = value }
        var carrier: [String: String] = [:]
        tracer.inject(span.context, into: &carrier, using: DictionaryInjector())
        do {
            return try await ServiceContext.withValue(span.context) {
                try await operation(carrier)
            }
        } catch {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
            throw error
        }
    }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
