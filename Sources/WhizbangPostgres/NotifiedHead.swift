import Synchronization

/// Positions that notifications named past the store's confirmed head, and the count of callers waiting for appends.
///
/// A notification names a committed position, but one sent by hand, or for commits a crash lost, names a position
/// the log may never reach: waking waiters to it would make every caught-up consumer read nothing, in a loop. So the
/// store's head (its `AppendSignal`) advances only to positions known to be real, this process's own appends and
/// heads read from the database, and a notification past them is confirmed by reading the head: by the listener when
/// someone waits (or at once, in a store with read models, whose follower reads the head without waiting), else by
/// the next caller that starts waiting. A process that does not wait for appends (a cluster node, say) reads no head
/// for other processes' notifications.
///
/// The listener records a position before it looks for waiters, and a waiter counts itself before it looks for
/// positions (both sequentially consistent), so that one of the two always sees the other.
final class NotifiedHead: Sendable {
    private let pending = Atomic<UInt64>(0)
    private let waiters = Atomic<Int>(0)
    private let confirmsAtOnce: Bool

    /// - Parameter confirmsAtOnce: whether every notified position past the confirmed head is confirmed when it
    ///   arrives, waiters or not.
    init(confirmsAtOnce: Bool) {
        self.confirmsAtOnce = confirmsAtOnce
    }

    /// Records a notified position past the confirmed head; returns whether to confirm it now (a caller waits, or
    /// the store confirms every one), which the listener then does by reading the head.
    func notified(_ position: UInt64) -> Bool {
        pending.max(position, ordering: .sequentiallyConsistent)
        return confirmsAtOnce || waiters.load(ordering: .sequentiallyConsistent) > 0
    }

    /// The largest notified position not yet confirmed, seen by a caller that counts itself waiting.
    func beginWaiting() -> UInt64 {
        waiters.add(1, ordering: .sequentiallyConsistent)
        return pending.load(ordering: .sequentiallyConsistent)
    }

    /// Ends what ``beginWaiting()`` began.
    func endWaiting() {
        waiters.subtract(1, ordering: .sequentiallyConsistent)
    }

    /// The callers waiting now (for tests).
    var waiting: Int { waiters.load(ordering: .relaxed) }
}
