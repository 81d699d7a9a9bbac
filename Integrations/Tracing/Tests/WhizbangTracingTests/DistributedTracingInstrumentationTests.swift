import Foundation
import InMemoryTracing
import Testing
import Tracing
import Whizbang
import WhizbangTracing

@Suite struct DistributedTracingInstrumentationTests {
    enum Counter: Aggregate {
        struct State: Codable, Sendable { var count = 0 }
        enum Command: Sendable { case increment, fail }
        struct Incremented: Codable, Sendable { var to: Int }
        struct Refused: Error {}

        static let initialState = State()
        static let events = EventRegistry<Incremented>()
            .registering("Incremented", Incremented.self, embed: { $0 }, extract: { $0 })

        static func evolve(_ state: State, _ event: Incremented) -> State { State(count: event.to) }

        static func decide(_ command: Command, _ state: State) throws -> [Incremented] {
            switch command {
            case .increment: [Incremented(to: state.count + 1)]
            case .fail: throw Refused()
            }
        }
    }

    func makeDispatcher(tracer: InMemoryTracer) -> (Dispatcher<InMemoryEventStore>, InMemoryEventStore) {
        let store = InMemoryEventStore()
        var configuration = DispatcherConfiguration()
        configuration.instrumentation = DistributedTracingInstrumentation(tracer: tracer)
        return (Dispatcher(store: store, configuration: configuration), store)
    }

    @Test func aCommandIsTracedWithAnAppendSpanInsideItsSendSpan() async throws {
        let tracer = InMemoryTracer()
        let (dispatcher, store) = makeDispatcher(tracer: tracer)
        _ = try await dispatcher.aggregate(Counter.self).send(.increment, to: "c")
        let spans = tracer.finishedSpans
        let send = try #require(spans.first { $0.operationName == "whizbang.send" })
        let append = try #require(spans.first { $0.operationName == "whizbang.append" })
        #expect(append.spanContext.traceID == send.spanContext.traceID)
        #expect(append.spanContext.parentSpanID == send.spanContext.spanID)
        #expect(send.attributes["whizbang.stream"]?.toSpanAttribute() == "c".toSpanAttribute())

        // The event's stored envelope carries the send span's context, so work it causes joins the trace.
        let stored = try #require(try await store.readAll(after: 0, limit: 1).first)
        let metadata = try #require(try stored.commandEnvelope())
        #expect(metadata.metadata[InMemoryTracer.traceIDKey] == send.spanContext.traceID)
        #expect(metadata.metadata[InMemoryTracer.spanIDKey] == send.spanContext.spanID)
    }

    @Test func aCommandContinuesTheTraceItsEnvelopeCarries() async throws {
        let tracer = InMemoryTracer()
        let (dispatcher, _) = makeDispatcher(tracer: tracer)
        let parent = tracer.startSpan("upstream", context: .topLevel)
        var carrier: [String: String] = [:]
        tracer.inject(parent.context, into: &carrier, using: Carrier())
        parent.end()
        _ = try await dispatcher.aggregate(Counter.self).send(.increment, to: "c", metadata: carrier)
        let send = try #require(tracer.finishedSpans.first { $0.operationName == "whizbang.send" })
        #expect(send.spanContext.traceID == parent.context.inMemorySpanContext?.traceID)
    }

    @Test func aRejectedCommandRecordsTheErrorOnItsSpan() async throws {
        let tracer = InMemoryTracer()
        let (dispatcher, _) = makeDispatcher(tracer: tracer)
        await #expect(throws: Counter.Refused.self) {
            _ = try await dispatcher.aggregate(Counter.self).send(.fail, to: "c")
        }
        let send = try #require(tracer.finishedSpans.first { $0.operationName == "whizbang.send" })
        #expect(send.errors.count == 1)
        #expect(send.status?.code == .error)
        #expect(!tracer.finishedSpans.contains { $0.operationName == "whizbang.append" })
    }

    struct Carrier: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    }
}
