import Foundation
import Synchronization
import Whizbang

/// An in-memory store whose reads can be made to fail (`unavailable`, as a store that lost its server), and whose
/// head and stream-version reads can be held at a gate, counting the head reads it was asked for.
final class SwitchableStore: EventStore {
    let inner = InMemoryEventStore()
    private let failing = Atomic<Bool>(false)
    private let headReads = Atomic<Int>(0)
    private let largestRead = Mutex(0)
    private let gate = Mutex<(isHolding: Bool, held: [CheckedContinuation<Void, Never>])>((false, []))
    /// Yields once for each head read that the gate holds, as it starts waiting.
    let heldReads: AsyncStream<Void>
    private let heldReadsContinuation: AsyncStream<Void>.Continuation

    init() {
        (heldReads, heldReadsContinuation) = AsyncStream.makeStream()
    }

    /// Holds every head read from now on at the gate, until ``release()``.
    func hold() { gate.withLock { $0.isHolding = true } }

    /// Lets the held head reads, and every later one, go on.
    func release() {
        let held = gate.withLock { state in
            state.isHolding = false
            defer { state.held = [] }
            return state.held
        }
        for continuation in held { continuation.resume() }
    }

    /// Whether reads fail from now on.
    func fail(_ isFailing: Bool) { failing.store(isFailing, ordering: .sequentiallyConsistent) }

    /// The head reads asked for so far, failed ones included.
    var headReadCount: Int { headReads.load(ordering: .sequentiallyConsistent) }

    private func check() throws {
        if failing.load(ordering: .sequentiallyConsistent) {
            throw EventStoreError(.unavailable, message: "the test store does not answer")
        }
    }

    func append(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion) async throws
        -> AppendResult
    {
        try check()
        return try await inner.append(events, to: streamID, expectedVersion: expectedVersion)
    }

    func readStream(_ streamID: StreamID, from version: UInt64, direction: ReadDirection, limit: Int) async throws
        -> [RecordedEvent]
    {
        try check()
        return try await inner.readStream(streamID, from: version, direction: direction, limit: limit)
    }

    func readAll(after position: UInt64, limit: Int) async throws -> [RecordedEvent] {
        try check()
        let events = try await inner.readAll(after: position, limit: limit)
        let bytes = events.reduce(0) { $0 + $1.data.count + $1.metadata.count }
        largestRead.withLock { $0 = max($0, bytes) }
        return events
    }

    /// The most bytes of payload and metadata one `readAll` returned.
    var largestReadBytes: Int { largestRead.withLock { $0 } }

    /// Waits at the gate while it holds.
    private func passGate() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let goesOn = gate.withLock { state -> Bool in
                guard state.isHolding else { return true }
                state.held.append(continuation)
                return false
            }
            if goesOn { continuation.resume() } else { heldReadsContinuation.yield() }
        }
    }

    /// The head as of the read's start: a read held at the gate returns the head from before what was appended
    /// meanwhile, as a read that answered just before those appends would.
    func headPosition() async throws -> UInt64 {
        headReads.add(1, ordering: .sequentiallyConsistent)
        let head = try await inner.headPosition()
        await passGate()
        try check()
        return head
    }

    /// As of the read's start, held at the gate as a head read is.
    func streamVersion(of streamID: StreamID) async throws -> UInt64 {
        let version = try await inner.streamVersion(of: streamID)
        await passGate()
        try check()
        return version
    }

    func event(withID eventID: MessageID) async throws -> RecordedEvent? {
        try check()
        return try await inner.event(withID: eventID)
    }

    func waitForEvents(after position: UInt64) async throws { try await inner.waitForEvents(after: position) }

    func checkpoint(for consumer: String) async throws -> UInt64? {
        try check()
        return try await inner.checkpoint(for: consumer)
    }

    func saveCheckpoint(_ position: UInt64, for consumer: String) async throws {
        try check()
        try await inner.saveCheckpoint(position, for: consumer)
    }

    func saveSnapshot(_ snapshot: Snapshot) async throws { try await inner.saveSnapshot(snapshot) }

    func latestSnapshot(for streamID: StreamID) async throws -> Snapshot? {
        try await inner.latestSnapshot(for: streamID)
    }
}
