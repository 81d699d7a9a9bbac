import Synchronization

/// The live-update streams a console serves at once, against ``ConsoleConfiguration/maximumLiveStreams``.
///
/// A stream takes its place when its body starts and gives it back when the body ends, whatever ends it: a stream
/// whose response never starts (its client left first) holds no place.
final class LiveStreamCount: Sendable {
    private let count = Atomic<Int>(0)

    /// Takes a place if fewer than `limit` are taken; `false` when none is left.
    func enter(limit: Int) -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = count.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives back a place taken with ``enter(limit:)``.
    func leave() {
        count.subtract(1, ordering: .acquiringAndReleasing)
    }

    /// The places taken now.
    var current: Int { count.load(ordering: .relaxed) }
}
