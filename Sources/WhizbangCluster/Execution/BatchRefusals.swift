/// How a node finds the command in a batch that the database refuses to commit, so that one such command cannot
/// stop every other command of the node's partitions.
///
/// A refused batch is tried again with half as many rows (its commands stay pending), down to one row; a row refused
/// alone twice in a row fails alone. A second refusal is waited for so that a failure that passes (an operator's
/// trigger dropped, say) leaves a lone command pending, as it leaves a larger batch. Each batch that commits doubles
/// the size again, up to the configured one: the rows before the refused one commit and leave the inbox, so the
/// refused row soon comes first in a batch of its own, after at most a few refusals per halving.
struct BatchRefusals: Sendable {
    /// What the executor does after a refusal.
    enum Step: Equatable {
        /// Throw the error: the rows stay pending, and the next batch takes at most ``BatchRefusals/limit`` rows.
        case retry
        /// Record the lone row as failed.
        case failAlone
    }

    /// The most rows the next batch may take; `nil` for the configured size.
    private(set) var limit: Int?
    /// The row last refused alone.
    private var refusedAlone: Int64?

    /// Records that the database refused a batch of the rows with `ids`, oldest first.
    mutating func refused(_ ids: [Int64]) -> Step {
        guard ids.count == 1, let only = ids.first else {
            limit = max(1, ids.count / 2)
            refusedAlone = nil
            return .retry
        }
        limit = 1
        if refusedAlone == only {
            refusedAlone = nil
            limit = nil
            return .failAlone
        }
        refusedAlone = only
        return .retry
    }

    /// Records that a batch committed: the size doubles, up to `size`, the configured one (then ``limit`` is `nil`).
    mutating func committed(size: Int) {
        refusedAlone = nil
        if let narrowed = limit { limit = narrowed < size / 2 ? narrowed * 2 : nil }
    }
}
