/// How a node finds the command in a batch that the database refuses to commit, so that one such command cannot
/// stop every other command of the node's partitions, while a refusal of every command (a broken trigger, say) fails
/// none of them.
///
/// A refused batch is tried again with half as many rows (its commands stay pending), down to one row. A row refused
/// alone twice in a row fails alone if other rows committed since the refusals began: the database takes other
/// commands, and refuses this one. Without that evidence (the refused row came first), the next batch is a probe: the
/// one row after it. If the probe commits, the refused row fails at its next refusal; if the probe is refused too,
/// the refusal is not the row's, and the node starts over with full batches, retrying as after any failed batch.
/// Only a commit that appended events counts as evidence: a batch of commands that the aggregates rejected (or of
/// malformed rows) writes no event, so it shows nothing about what the database does with an append.
/// Each batch that commits doubles the size again, up to the configured one: the rows before the refused one commit
/// and leave the inbox, so the refused row soon comes first in a batch of its own.
struct BatchRefusals: Sendable {
    /// What the executor does after a refusal.
    enum Step: Equatable {
        /// Throw the error: the rows stay pending, and the next batch takes at most ``BatchRefusals/limit`` rows
        /// from after ``BatchRefusals/probeAfter``, if set.
        case retry
        /// Record the lone row as failed.
        case failAlone
    }

    /// The most rows the next batch may take; `nil` for the configured size.
    private(set) var limit: Int?
    /// A row refused alone twice with no other row committed since: the next batch starts after it.
    private(set) var probeAfter: Int64?
    /// The row last refused alone.
    private var refusedAlone: Int64?
    /// A row refused alone after which other rows committed: it fails at its next refusal.
    private var proven: Int64?
    /// Whether a batch committed since the refusals began.
    private var othersCommitted = false

    /// Records that the database refused a batch of the rows with `ids`, oldest first.
    mutating func refused(_ ids: [Int64]) -> Step {
        let only = ids.count == 1 ? ids.first : nil
        if let only, only == proven {
            self = BatchRefusals()
            return .failAlone
        }
        if probeAfter != nil {
            // The row after the refused one was refused too: the database refuses more than that row.
            self = BatchRefusals()
            return .retry
        }
        guard let only else {
            limit = max(1, ids.count / 2)
            refusedAlone = nil
            return .retry
        }
        limit = 1
        guard refusedAlone == only else {
            refusedAlone = only
            return .retry
        }
        refusedAlone = nil
        if othersCommitted {
            self = BatchRefusals()
            return .failAlone
        }
        probeAfter = only
        return .retry
    }

    /// Records that a probe found no other command to run: without evidence either way, the node starts over with
    /// full batches, which try the refused row again (the database may take it by now).
    mutating func probeFoundNothing() {
        self = BatchRefusals()
    }

    /// Records that a batch committed: the size doubles, up to `size`, the configured one (then ``limit`` is `nil`);
    /// `appended` says whether the batch appended events, the only evidence that the database takes other commands.
    mutating func committed(size: Int, appended: Bool) {
        refusedAlone = nil
        if let probed = probeAfter, appended {
            proven = probed
            probeAfter = nil
        }
        guard let narrowed = limit else { return }
        if appended { othersCommitted = true }
        limit = narrowed < size / 2 ? narrowed * 2 : nil
        if limit == nil { othersCommitted = false }
    }
}
