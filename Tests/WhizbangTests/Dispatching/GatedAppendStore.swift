import Whizbang

/// An event store that delegates to an in-memory one, but holds each append until ``releaseAppends`` opens, as a
/// durable store's queued append does: the caller's cancellation does not stop it.
final class GatedAppendStore: DelegatingEventStore {
    let inner = InMemoryEventStore()
    /// Opened when the first append arrives.
    let appendArrived = TestGate()
    /// Appends wait for this gate, ignoring cancellation.
    let releaseAppends = TestGate()
    /// Opened when the task of an append waiting at the gate is cancelled.
    let appendCancelled = TestGate()

    func append(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion) async throws
        -> AppendResult
    {
        appendArrived.open()
        await withTaskCancellationHandler {
            await releaseAppends.wait()
        } onCancel: {
            appendCancelled.open()
        }
        return try await inner.append(events, to: streamID, expectedVersion: expectedVersion)
    }
}
