import Synchronization

/// Counts the inbox's pending commands for the depth metric apart from the heartbeat, one count at a time.
///
/// A count can wait (a locked inbox, a deep backlog) for up to the store's request deadline, which is as long as a
/// lease: awaited by the heartbeat, it would delay the next renewal until the leases lapse. Started here, it delays
/// nothing, and a heartbeat that finds a count still running starts none.
final class InboxDepthCount: Sendable {
    private let inFlight = Atomic(false)

    /// Whether a count is running.
    var isCounting: Bool { inFlight.load(ordering: .acquiring) }

    /// Starts `count` in a task of its own and passes its result to `record`, unless a count is still running; a
    /// count that fails records nothing.
    func start(
        _ count: @escaping @Sendable () async throws -> Int64,
        record: @escaping @Sendable (Int64) -> Void
    ) {
        guard !inFlight.exchange(true, ordering: .acquiring) else { return }
        Task {
            defer { inFlight.store(false, ordering: .releasing) }
            if let depth = try? await count() { record(depth) }
        }
    }
}
