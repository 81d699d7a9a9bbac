#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
import Whizbang

/// Answers the console's questions from a store and the catalog: read-only, every store call bounded by the
/// configured timeout, every page capped.
struct ConsoleReader<Store: EventStore>: Sendable {
    let store: Store
    let catalog: StreamCatalog
    let configuration: ConsoleConfiguration
    /// The current time; injected so that lag in seconds can be tested.
    let now: @Sendable () -> Date

    func overview() async throws(ConsoleRequestError) -> OverviewView {
        let head = try await bounded("read the head position") { try await store.headPosition() }
        var storeBytes: Int?
        if let measure = configuration.storeSize {
            storeBytes = try await bounded("measure the store") { try await measure() }
        }
        return OverviewView(
            headPosition: head, indexedPosition: catalog.indexedPosition, streamCount: catalog.streamCount,
            eventsPerSecond: catalog.eventsPerSecond, throughput: catalog.samples,
            projections: try await projections(head: head), storeBytes: storeBytes,
            showsCluster: configuration.clusterStatus != nil)
    }

    func head() async throws(ConsoleRequestError) -> HeadView {
        HeadView(headPosition: try await bounded("read the head position") { try await store.headPosition() })
    }

    func streams(_ query: QueryParameters) throws(ConsoleRequestError) -> StreamsPage {
        let limit = try query.limit()
        let prefix = query.text("prefix") ?? ""
        let after = query.text("after").map { StreamID($0) }
        let streams = catalog.streams(prefix: prefix, after: after, limit: limit)
        return StreamsPage(
            prefix: prefix, streams: streams,
            next: streams.count == limit ? streams.last?.streamID.rawValue : nil)
    }

    /// One stream's page of events; `bodies` false leaves their payload and metadata out (see ``EventView``).
    func stream(_ query: QueryParameters, bodies: Bool = true) async throws(ConsoleRequestError) -> StreamPage {
        guard let text = query.text("id") else { throw .badRequest("id names the stream to show; it is missing") }
        let streamID = StreamID(text)
        do throws(EventStoreError) {
            try streamID.validate()
        } catch {
            throw .badRequest(error.message)
        }
        let limit = try query.limit()
        // A stream's versions start at 1.
        let from = try query.position("from", default: 1, minimum: 1)
        let version = try await bounded("read the stream's version") { try await store.streamVersion(of: streamID) }
        guard version > 0 else { throw .notFound("there is no stream '\(QueryParameters.clipped(text))'") }
        guard from <= version else {
            throw .notFound("stream '\(QueryParameters.clipped(text))' ends at version \(version); there is no version \(from)")
        }
        var page = PageBudget(events: limit, bytes: configuration.maximumPageBytes)
        var events: [RecordedEvent] = []
        var next = from
        while let count = page.nextSlice {
            let from = next
            let slice = try await bounded("read the stream") {
                try await store.readStream(streamID, from: from, direction: .forwards, limit: count)
            }
            events += page.take(slice)
            guard let last = events.last, page.took(all: slice, asked: count) else { break }
            next = last.streamVersion + 1
        }
        let last = events.last?.streamVersion ?? version
        // Events appended after the version was read may be in the page: the version shown is at least its last.
        let shown = max(version, last)
        return StreamPage(
            streamID: text, version: shown, events: events.map { EventView($0, bodies: bodies) },
            next: last < shown ? last + 1 : nil)
    }

    /// A page of the global log; `bodies` false leaves the events' payload and metadata out (see ``EventView``).
    func log(_ query: QueryParameters, bodies: Bool = true) async throws(ConsoleRequestError) -> LogPage {
        let limit = try query.limit()
        let after = try query.position("after", default: 0)
        let head = try await bounded("read the head position") { try await store.headPosition() }
        guard after <= head else { throw .notFound("the log ends at position \(head); there is nothing after \(after)") }
        var page = PageBudget(events: limit, bytes: configuration.maximumPageBytes)
        var events: [RecordedEvent] = []
        var next = after
        while let count = page.nextSlice {
            let start = next
            let slice = try await bounded("read the log") { try await store.readAll(after: start, limit: count) }
            events += page.take(slice)
            guard let last = events.last, page.took(all: slice, asked: count) else { break }
            next = last.position
        }
        let last = events.last?.position ?? after
        // Events appended after the head was read may be in the page: the head shown is at least its last.
        let shown = max(head, last)
        return LogPage(
            headPosition: shown, events: events.map { EventView($0, bodies: bodies) }, next: last < shown ? last : nil)
    }

    func event(_ text: String) async throws(ConsoleRequestError) -> EventView {
        guard let position = UInt64(text), position > 0 else {
            throw .badRequest("an event is named by its position, a whole number from 1; not '\(QueryParameters.clipped(text))'")
        }
        let events = try await bounded("read the event") { try await store.readAll(after: position - 1, limit: 1) }
        guard let event = events.first, event.position == position else {
            throw .notFound("there is no event at position \(position)")
        }
        return EventView(event)
    }

    /// The message a correlation or causation id names, when it is a stored event (an event's id is its message
    /// id); a command is not stored, so its id finds nothing.
    func message(_ text: String) async throws(ConsoleRequestError) -> EventView {
        guard let id = MessageID(text) else {
            throw .badRequest("a message is named by its id, a UUID; not '\(QueryParameters.clipped(text))'")
        }
        let event = try await bounded("look up the message") { try await store.event(withID: id) }
        guard let event else {
            throw .notFound(
                "no event in the store has the id \(id); it may name a command, which the store does not keep (the "
                    + "events a command recorded carry its id as their message id)")
        }
        return EventView(event)
    }

    /// The cluster's nodes and partition owners; 404 when the console has no cluster reader or the store no cluster.
    func cluster() async throws(ConsoleRequestError) -> ClusterStatus {
        guard let read = configuration.clusterStatus else {
            throw .notFound("this console is not configured to read a cluster")
        }
        guard let status = try await bounded("read the cluster", { try await read() }) else {
            throw .notFound("no cluster runs on this store (it has no cluster tables)")
        }
        return status
    }

    func projections() async throws(ConsoleRequestError) -> [ProjectionView] {
        let head = try await bounded("read the head position") { try await store.headPosition() }
        return try await projections(head: head)
    }

    private func projections(head: UInt64) async throws(ConsoleRequestError) -> [ProjectionView] {
        var views: [ProjectionView] = []
        for name in configuration.projections {
            let checkpoint = try await bounded("read a checkpoint") { try await store.checkpoint(for: name) }
            let reached = checkpoint ?? 0
            let lagEvents = head > reached ? head - reached : 0
            var lagSeconds = 0.0
            if lagEvents > 0 {
                let next = try await bounded("read the log") { try await store.readAll(after: reached, limit: 1) }
                if let recordedAt = next.first?.recordedAt {
                    lagSeconds = max(0, now().timeIntervalSince(recordedAt))
                }
            }
            let state = checkpoint == nil ? "not-started" : lagEvents == 0 ? "caught-up" : "behind"
            let status = configuration.projectionStatus?.status(of: name)
            views.append(
                ProjectionView(
                    name: name, checkpoint: checkpoint, lagEvents: lagEvents, lagSeconds: lagSeconds, state: state,
                    runner: status?.state.description, error: status?.error))
        }
        return views
    }

    /// Runs one store call with the configured timeout: its result, or 503 when it fails or does not answer in time.
    ///
    /// The call runs in a task of its own, raced against the timer outside any task group, so that the request never
    /// waits for the call's end: at the timeout the request answers 503 and the call is cancelled. A call that does
    /// not answer to cancellation (a `stat` on a hung network file system, a driver that ignores it) then goes on
    /// running on its own until it ends, for as long as it takes; the console cannot bound that, only stop waiting
    /// for it. A cancelled request cancels its call, and still answers within the timeout.
    func bounded<Value: Sendable>(
        _ what: String,
        _ body: @escaping @Sendable () async throws -> Value
    ) async throws(ConsoleRequestError) -> Value {
        let timeout = configuration.storeTimeout
        let call = Task { try await body() }
        let outcome = await withTaskCancellationHandler {
            await Self.outcome(of: call, within: timeout)
        } onCancel: {
            call.cancel()
        }
        call.cancel()
        switch outcome {
        case .success(let value)?:
            return value
        case .failure(let error)?:
            if let error = error as? EventStoreError {
                throw .unavailable("could not \(what): \(error.message)")
            }
            throw .unavailable("could not \(what): \(error)")
        case nil:
            throw .unavailable("the store did not \(what) within \(timeout)")
        }
    }

    /// The outcome of `call`, or `nil` once `timeout` has passed first; the call is not waited for after that.
    private static func outcome<Value: Sendable>(
        of call: Task<Value, any Error>,
        within timeout: Duration
    ) async -> Result<Value, any Error>? {
        let once = FirstOutcome()
        return await withUnsafeContinuation { (continuation: UnsafeContinuation<Result<Value, any Error>?, Never>) in
            // The timer claims only once its sleep has ended, never when the call's cancellation of it wakes it (a
            // store that had answered then got a 503); the call claims before it cancels the timer.
            let timer = Task {
                guard (try? await Task.sleep(for: timeout)) != nil, once.claim() else { return }
                continuation.resume(returning: nil)
            }
            Task {
                let result = await call.result
                guard once.claim() else { return }
                timer.cancel()
                continuation.resume(returning: result)
            }
        }
    }
}

/// Lets exactly one of a call and its timer resume the request.
private final class FirstOutcome: Sendable {
    private let claimed = Atomic(false)

    func claim() -> Bool {
        !claimed.exchange(true, ordering: .acquiringAndReleasing)
    }
}
