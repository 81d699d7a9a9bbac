import Synchronization

/// The partitions a node owns, with the epoch (fencing token) of each claim, shared by the lease keeper and the
/// executor: a plain state under one lock.
///
/// The lease keeper records after each heartbeat what the database says the node holds. A partition the node held
/// but the heartbeat no longer found (another node claimed it while this one was paused or cut off) is not dropped
/// there: the executor drops it when the fence refuses it, so that one authority, the fence, decides what a node
/// may write, and a node never acts on a half-updated view. Such partitions do not count toward the node's share.
/// Partitions being released are kept out of new batches.
final class Ownership: Sendable {
    private struct State {
        var owned: [Int32: Int64] = [:]
        /// Partitions held before, and not found by the last heartbeat: kept until the fence refuses them.
        var unconfirmed: Set<Int32> = []
        var releasing: Set<Int32> = []
        var inFlight: Set<Int32> = []
    }

    private let state = Mutex(State())

    /// The partitions the executor may start new work in, with their epochs.
    func executable() -> [Int32: Int64] {
        state.withLock { state in state.owned.filter { !state.releasing.contains($0.key) } }
    }

    /// Every partition the last heartbeat confirmed, releasing ones included.
    var owned: [Int32: Int64] { state.withLock { state in state.owned.filter { !state.unconfirmed.contains($0.key) } } }

    /// Marks the partitions of a batch as in flight, or clears them with an empty set.
    func setInFlight(_ partitions: Set<Int32>) { state.withLock { $0.inFlight = partitions } }

    /// The partitions marked for release whose work is done: safe to release now.
    func releasable() -> [Int32] {
        state.withLock { state in state.releasing.subtracting(state.inFlight).sorted() }
    }

    /// Records the database's view after a heartbeat: `owned` is every partition this node holds now. Partitions
    /// released are forgotten; others that the heartbeat did not find stay, unconfirmed, until the fence refuses
    /// them.
    func replace(with owned: [Int32: Int64], released: [Int32]) {
        state.withLock { state in
            for partition in released { state.owned[partition] = nil }
            state.unconfirmed = Set(state.owned.keys).subtracting(owned.keys)
            state.owned.merge(owned) { _, confirmed in confirmed }
            state.releasing.subtract(released)
            state.releasing.formIntersection(owned.keys)
        }
    }

    /// Marks partitions for release until at most `share` remain that are not marked (the highest-numbered
    /// first); returns the newly marked ones.
    func keep(atMost share: Int) -> [Int32] {
        state.withLock { state in
            let confirmed = state.owned.keys.filter { !state.unconfirmed.contains($0) }
            let needed = confirmed.count - state.releasing.count - share
            guard needed > 0 else { return [] }
            let candidates = confirmed.filter { !state.releasing.contains($0) }.sorted(by: >)
            let chosen = Array(candidates.prefix(needed))
            state.releasing.formUnion(chosen)
            return chosen
        }
    }

    /// Marks every partition for release, when the node stops: those without a batch in flight go at once.
    func releaseEverything() { state.withLock { $0.releasing = Set($0.owned.keys) } }

    /// Drops partitions the fence refused, if their epoch is still the one that was refused.
    func lose(_ partitions: [Int32: Int64]) {
        state.withLock { state in
            for (partition, epoch) in partitions where state.owned[partition] == epoch {
                state.owned[partition] = nil
                state.unconfirmed.remove(partition)
                state.releasing.remove(partition)
            }
        }
    }

    /// Forgets everything, after a graceful release.
    func clear() { state.withLock { $0 = State() } }
}
