/// Decides which jobs may run so that at most `limit` are in flight and jobs sharing an account run one at a time,
/// in sequence order.
///
/// A job is admitted in sequence order while fewer than `limit` are in flight; it starts once it is first in the
/// queue of every account it touches. So two jobs touching one account never overlap and run in sequence order, and
/// jobs on different accounts run concurrently: the outcome equals that of running every job one at a time. This
/// is a plain state machine; the runner owns the tasks.
///
/// A job that runs is first in each of its accounts' queues until it finishes, so finishing takes it off their
/// fronts. A waiting job counts the queues in which a job is still ahead of it, and starts when that count reaches
/// zero. The common job, on accounts no other admitted job touches, costs one dictionary entry per account and one
/// for its keys, and no allocation.
struct OrderedWindow {
    /// The accounts a job touches: one, or two different ones (a transfer).
    struct Keys: Sequence, Sendable {
        let first: Int
        let second: Int?

        init(_ first: Int) {
            self.first = first
            second = nil
        }

        /// Two accounts; one when they are the same.
        init(_ first: Int, _ second: Int) {
            self.first = first
            self.second = first == second ? nil : second
        }

        func makeIterator() -> Iterator {
            Iterator(keys: self)
        }

        struct Iterator: IteratorProtocol {
            let keys: Keys
            var taken = 0

            mutating func next() -> Int? {
                defer { taken += 1 }
                switch taken {
                case 0: return keys.first
                case 1: return keys.second
                default: return nil
                }
            }
        }
    }

    /// The admitted jobs touching one account, in sequence order: the first, then the others.
    private struct Queue {
        var first: Int
        var rest: [Int] = []
    }

    let limit: Int
    private(set) var inFlight = 0
    private var queues: [Int: Queue] = [:]
    private var keysBySequence: [Int: Keys] = [:]
    /// For each admitted job that has not started: in how many of its accounts' queues a job is ahead of it.
    private var blockers: [Int: Int] = [:]

    init(limit: Int) {
        precondition(limit >= 1)
        self.limit = limit
    }

    var hasRoom: Bool { inFlight < limit }

    /// Admits job `sequence` touching `keys`; returns whether it may start now.
    mutating func admit(_ sequence: Int, keys: Keys) -> Bool {
        inFlight += 1
        keysBySequence[sequence] = keys
        var ahead = 0
        for key in keys {
            if let slot = queues.index(forKey: key) {
                queues.values[slot].rest.append(sequence)
                ahead += 1
            } else {
                queues[key] = Queue(first: sequence)
            }
        }
        if ahead > 0 { blockers[sequence] = ahead }
        return ahead == 0
    }

    /// Records that job `sequence` (which was running) finished; returns the jobs that may start now, in sequence
    /// order.
    mutating func finish(_ sequence: Int) -> [Int] {
        inFlight -= 1
        guard let keys = keysBySequence.removeValue(forKey: sequence) else { return [] }
        var ready: [Int] = []
        for key in keys {
            guard let slot = queues.index(forKey: key), queues.values[slot].first == sequence else { continue }
            guard !queues.values[slot].rest.isEmpty else {
                queues.remove(at: slot)
                continue
            }
            let next = queues.values[slot].rest.removeFirst()
            queues.values[slot].first = next
            let remaining = blockers[next, default: 1] - 1
            if remaining == 0 {
                blockers[next] = nil
                ready.append(next)
            } else {
                blockers[next] = remaining
            }
        }
        if ready.count > 1 { ready.sort() }
        return ready
    }
}
