import Synchronization

/// The partitions a node owns, with the epoch (fencing token) of each claim, shared by the lease keeper and the
/// executor: a plain state under one lock.
///
/// The lease keeper replaces the set after each heartbeat with what the database says; the executor drops a
/// partition at once when the fence refuses it. Partitions being released are kept out of new batches.
final class Ownership: Sendable {
    private struct State {
        var owned: [Int32: Int64] = [:]
        var releasing: Set<Int32> = []
        var inFlight: Set<Int32> = []
    }

    private let state = Mutex(State())

    /// The partitions the executor may start new work in, with their epochs.
    func executable() -> [Int32: Int64] {
        state.withLock { state in state.owned.filter { !state.releasing.contains($0.key) } }
    }

    /// Every owned partition, releasing ones included.
    var owned: [Int32: Int64] { state.withLock { $0.owned } }

    /// Marks the partitions of a batch as in flight, or clears them with an empty set.
    func setInFlight(_ partitions: Set<Int32>) { state.withLock { $0.inFlight = partitions } }

    /// The partitions marked for release whose work is done: safe to release now.
    func releasable() -> [Int32] {
        state.withLock { state in state.releasing.subtracting(state.inFlight).sorted() }
    }

    /// Records the database's view after a heartbeat: `owned` is every partition this node holds now.
    func replace(with owned: [Int32: Int64], released: [Int32]) {
        state.withLock { state in
            state.owned = owned
            state.releasing.subtract(released)
            state.releasing.formIntersection(owned.keys)
        }
    }

    /// Marks partitions for release until at most `share` remain that are not marked (the highest-numbered
    /// first); returns the newly marked ones.
    func keep(atMost share: Int) -> [Int32] {
        state.withLock { state in
            let needed = state.owned.count - state.releasing.count - share
            guard needed > 0 else { return [] }
            let candidates = state.owned.keys.filter { !state.releasing.contains($0) }.sorted(by: >)
            let chosen = Array(candidates.prefix(needed))
            state.releasing.formUnion(chosen)
            return chosen
        }
    }

    /// Drops partitions the fence refused, if their epoch is still the one that was refused.
    func lose(_ partitions: [Int32: Int64]) {
        state.withLock { state in
            for (partition, epoch) in partitions where state.owned[partition] == epoch {
                state.owned[partition] = nil
                state.releasing.remove(partition)
            }
        }
    }

    /// Forgets everything, after a graceful release.
    func clear() { state.withLock { $0 = State() } }
}
