import Foundation
import Synchronization
import Whizbang

/// Appends one event per value to `stream`, each of type "Value" with the value's digits as data.
@discardableResult
func appendValues(_ values: some Sequence<Int>, to stream: StreamID, in store: some EventStore) async throws
    -> AppendResult
{
    try await store.append(
        values.map { EventData(eventType: "Value", data: Data("\($0)".utf8)) }, to: stream, expectedVersion: .any)
}

/// A line describing an event, so two read models can be compared.
func describe(_ event: RecordedEvent) -> String {
    "\(event.streamID)#\(event.streamVersion)=\(String(decoding: event.data, as: UTF8.self))"
}

/// A hook a test projection calls after each batch has changed its read model, with the batch's number (from 1 for
/// each projection instance) and events. Throwing from it makes `apply` fail after the read model changed, as a
/// crash before the checkpoint is saved would.
typealias BatchHook = @Sendable (_ batchNumber: Int, _ events: [RecordedEvent]) async throws -> Void

/// A projection whose checkpoint lives in the event store, so its `apply` is idempotent: an upsert of one line per
/// position. It counts how often each position was applied.
final class UpsertingProjection: Projection {
    struct Model: Sendable {
        var lines: [UInt64: String] = [:]
        var applications: [UInt64: Int] = [:]
        var batches: [[UInt64]] = []
        var resets = 0
    }

    let name: String
    let eventTypes: Set<String>?
    private let model = Mutex(Model())
    private let hook: BatchHook?

    init(name: String = "upserting", eventTypes: Set<String>? = nil, hook: BatchHook? = nil) {
        self.name = name
        self.eventTypes = eventTypes
        self.hook = hook
    }

    func apply(_ events: [RecordedEvent]) async throws {
        let number = model.withLock { model -> Int in
            for event in events {
                model.lines[event.position] = describe(event)
                model.applications[event.position, default: 0] += 1
            }
            model.batches.append(events.map(\.position))
            return model.batches.count
        }
        try await hook?(number, events)
    }

    func reset() async throws {
        model.withLock {
            $0.lines = [:]
            $0.resets += 1
        }
    }

    var snapshot: Model { model.withLock { $0 } }
    var lines: [UInt64: String] { model.withLock { $0.lines } }
}

/// A projection that keeps its own position atomically with its read model (under one lock, as one transaction
/// would), so it is applied exactly once. Its read model appends to a list per stream: applying an event twice
/// would show.
final class StreamLogProjection: Projection {
    struct Model: Sendable, Equatable {
        var logs: [StreamID: [String]] = [:]
        var position: UInt64 = 0
        var eventsApplied = 0
    }

    let name: String
    let checkpointStorage = ProjectionCheckpointStorage.projection
    private let model = Mutex(Model())
    private let batchCount = Atomic<Int>(0)
    private let hook: BatchHook?

    init(name: String = "stream-log", hook: BatchHook? = nil) {
        self.name = name
        self.hook = hook
    }

    func apply(_ events: [RecordedEvent]) async throws {
        model.withLock { model in
            for event in events {
                model.logs[event.streamID, default: []].append(String(decoding: event.data, as: UTF8.self))
                model.eventsApplied += 1
            }
            model.position = events.last?.position ?? model.position
        }
        let number = batchCount.wrappingAdd(1, ordering: .relaxed).newValue
        try await hook?(number, events)
    }

    func reset() async throws {
        model.withLock { $0 = Model() }
    }

    func position() async throws -> UInt64 {
        model.withLock { $0.position }
    }

    var snapshot: Model { model.withLock { $0 } }
    /// The read model without the count of applications, to compare with another instance's.
    var logs: [StreamID: [String]] { model.withLock { $0.logs } }
}

/// A projection that says it keeps its own position but does not implement `position()`.
struct ForgetfulProjection: Projection {
    let name = "forgetful"
    let checkpointStorage = ProjectionCheckpointStorage.projection
    func apply(_ events: [RecordedEvent]) async throws {}
    func reset() async throws {}
}

/// The error a test projection throws to stand for a crash.
struct SimulatedCrash: Error {}

/// Cancels the task that calls it, as a process being killed would stop it.
func cancelCurrentTask() {
    withUnsafeCurrentTask { $0?.cancel() }
}

/// Runs `runner` in a child task while `body` runs, then cancels it and waits for it to return.
func whileRunning<Store: EventStore, Result: Sendable>(
    _ runner: ProjectionRunner<Store>,
    _ body: () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await runner.run() }
        do {
            let result = try await body()
            group.cancelAll()
            try await group.waitForAll()
            return result
        } catch {
            group.cancelAll()
            try? await group.waitForAll()
            throw error
        }
    }
}
