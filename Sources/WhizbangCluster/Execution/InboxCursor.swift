/// Where a node's next inbox fetch starts, so that the fetch does not walk the rows it has already run: every row of
/// the node's partitions below ``start`` had a result when it was last looked at.
///
/// Row ids are drawn before their insert commits, so a row can become visible below the start after a fetch went
/// past it. Every insert notifies the lowest id it inserted, after it commits; the node
/// lowers the start to it (``lower(to:)``), also while a fetch is in flight. A notification without an id, a lost
/// listener connection, a partition the node did not hold at the last fetch, and the passing of ``fullFetchInterval``
/// all start the next fetch at the inbox's first row.
struct InboxCursor {
    /// How often a fetch starts at the first row even if no notification asked for it.
    let fullFetchInterval: Duration
    /// The first row id the next fetch looks at.
    private(set) var start: Int64 = 0
    /// The partitions and epochs the start holds for.
    private var partitions: [Int32: Int64] = [:]
    /// The lowest id notified since the fetch in flight began.
    private var lowestNotified = Int64.max
    private var lastFullFetch: ContinuousClock.Instant? = nil

    init(fullFetchInterval: Duration) {
        self.fullFetchInterval = fullFetchInterval
    }

    /// Begins a fetch of `owned` (partition to epoch) at `now`; returns the first row id to look at.
    mutating func begin(owned: [Int32: Int64], now: ContinuousClock.Instant) -> Int64 {
        if owned.contains(where: { partitions[$0.key] != $0.value }) { start = 0 }
        partitions = owned
        if lastFullFetch.map({ now - $0 >= fullFetchInterval }) ?? true { start = 0 }
        if start == 0 { lastFullFetch = now }
        lowestNotified = .max
        return start
    }

    /// Ends the fetch that ``begin(owned:now:)`` began: every row it found below `next` has its result recorded.
    mutating func end(next: Int64) {
        start = min(next, lowestNotified)
    }

    /// Makes the next fetch look at rows from `id` on (`nil`: from the first row): an insert committed there.
    mutating func lower(to id: Int64?) {
        let id = max(id ?? 0, 0)
        start = min(start, id)
        lowestNotified = min(lowestNotified, id)
    }
}
