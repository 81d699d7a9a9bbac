/// Decides which jobs may run so that at most `limit` are in flight and jobs sharing an account run one at a time,
/// in sequence order.
///
/// A job is admitted in sequence order while fewer than `limit` are in flight; it starts once it is first in the
/// queue of every account it touches. So two jobs touching one account never overlap and run in sequence order, and
/// jobs on different accounts run concurrently: the outcome equals that of running every job one at a time. This
/// is a plain state machine; the runner owns the tasks.
struct OrderedWindow {
    let limit: Int
    private(set) var inFlight = 0
    private var queues: [Int: [Int]] = [:]
    private var keysBySequence: [Int: [Int]] = [:]
    private var started: Set<Int> = []

    init(limit: Int) {
        precondition(limit >= 1)
        self.limit = limit
    }

    var hasRoom: Bool { inFlight < limit }

    /// Admits job `sequence` touching `keys`; returns whether it may start now.
    mutating func admit(_ sequence: Int, keys: [Int]) -> Bool {
        inFlight += 1
        keysBySequence[sequence] = keys
        var isFirstEverywhere = true
        for key in keys {
            if let queue = queues[key], !queue.isEmpty {
                isFirstEverywhere = false
                queues[key]!.append(sequence)
            } else {
                queues[key] = [sequence]
            }
        }
        if isFirstEverywhere { started.insert(sequence) }
        return isFirstEverywhere
    }

    /// Records that job `sequence` finished; returns the jobs that may start now, in sequence order.
    mutating func finish(_ sequence: Int) -> [Int] {
        inFlight -= 1
        started.remove(sequence)
        let keys = keysBySequence.removeValue(forKey: sequence) ?? []
        var ready: [Int] = []
        for key in keys {
            guard let slot = queues.index(forKey: key) else { continue }
            // Changed in place: a copy taken out of the dictionary would be copied again by its first change.
            if let index = queues.values[slot].firstIndex(of: sequence) { queues.values[slot].remove(at: index) }
            guard let candidate = queues.values[slot].first else {
                queues.remove(at: slot)
                continue
            }
            if !started.contains(candidate), isFirstEverywhere(candidate) {
                started.insert(candidate)
                ready.append(candidate)
            }
        }
        return ready.sorted()
    }

    private func isFirstEverywhere(_ sequence: Int) -> Bool {
        (keysBySequence[sequence] ?? []).allSatisfy { queues[$0]?.first == sequence }
    }
}
