import Synchronization

/// The jobs (projections and process managers) a node owns, with the epoch of each claim: a plain state under one
/// lock, shared by the lease keeper, which records what each heartbeat found, and the job runners, which ask before
/// each batch whether their claim still stands.
///
/// Unlike a partition, a job the heartbeat no longer finds is dropped at once: its runner stops before its next
/// batch, and a batch it is in the middle of cannot move the checkpoint, because that write is fenced by the epoch.
final class JobOwnership: Sendable {
    /// A claim of a job: its fencing token, and the checkpoint it had when claimed.
    struct Claim: Sendable, Hashable {
        var epoch: Int64
        var checkpoint: UInt64
    }

    private struct State {
        var owned: [String: Claim] = [:]
        var releasing: Set<String> = []
        var running: Set<String> = []
    }

    private let state = Mutex(State())

    /// The jobs owned and not being released, with their claims.
    func runnable() -> [String: Claim] {
        state.withLock { state in state.owned.filter { !state.releasing.contains($0.key) } }
    }

    /// Every job the last heartbeat confirmed, releasing ones included, with its epoch.
    var owned: [String: Int64] { state.withLock { state in state.owned.mapValues(\.epoch) } }

    /// Whether a runner of `name` at `epoch` may start another batch.
    func mayRun(_ name: String, epoch: Int64) -> Bool {
        state.withLock { state in state.owned[name]?.epoch == epoch && !state.releasing.contains(name) }
    }

    /// Marks a job's runner as started (`true`) or ended; returns `false` when it was already in that state.
    func setRunning(_ name: String, _ running: Bool) -> Bool {
        state.withLock { state in
            running ? state.running.insert(name).inserted : state.running.remove(name) != nil
        }
    }

    /// The jobs marked for release whose runner has ended: safe to release now.
    func releasable() -> [String] {
        state.withLock { state in state.releasing.subtracting(state.running).sorted() }
    }

    /// Records the database's view after a heartbeat: `owned` is every job this node holds now.
    func replace(with owned: [String: Claim], released: [String]) {
        state.withLock { state in
            var next: [String: Claim] = [:]
            for (name, claim) in owned {
                // A renewal keeps the claim's checkpoint as first read: the runner tracks its own position.
                if let current = state.owned[name], current.epoch == claim.epoch {
                    next[name] = current
                } else {
                    next[name] = claim
                }
            }
            state.owned = next
            state.releasing.subtract(released)
            state.releasing.formIntersection(owned.keys)
        }
    }

    /// The jobs marked for release, whose runners stop after their batch.
    var releasing: Set<String> { state.withLock { $0.releasing } }

    /// Marks `names` for release, those still owned; returns the newly marked ones.
    func markForRelease(_ names: [String]) -> [String] {
        state.withLock { state in
            names.filter { state.owned[$0] != nil && state.releasing.insert($0).inserted }
        }
    }

    /// Drops a job whose checkpoint write the fence refused, if its epoch is still the one refused.
    func lose(_ name: String, epoch: Int64) {
        state.withLock { state in
            if state.owned[name]?.epoch == epoch {
                state.owned[name] = nil
                state.releasing.remove(name)
            }
        }
    }

    /// Forgets every job, after a graceful release.
    func clear() {
        state.withLock { state in
            state.owned = [:]
            state.releasing = []
        }
    }
}
