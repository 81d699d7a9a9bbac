import Histogram

/// What a run did in consecutive intervals of time: how many things finished in each, and how long each took, for
/// the charts over time of a ``ChartReport``.
///
/// Intervals start 100 ms wide. Once there are ``maximumIntervals`` of them, neighbours are merged in pairs and the
/// width doubles, so a run of any length keeps a bounded number of intervals (and of histograms).
struct RunTimeline: Sendable {
    /// One interval: how many things finished in it and the latencies recorded in it, in microseconds.
    struct Interval: Sendable {
        var count = 0
        var latency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .two)

        mutating func add(_ other: Interval) {
            count += other.count
            latency.add(other.latency)
        }
    }

    /// The most intervals kept before neighbours are merged.
    static let maximumIntervals = 200

    /// When the timeline began; `nil` until ``start(at:)``.
    private(set) var start: ContinuousClock.Instant?
    /// The width of each interval, in seconds.
    private(set) var intervalSeconds = 0.1
    /// The intervals from the start, in order; the last one may be partial.
    private(set) var intervals: [Interval] = []
    /// The seconds from the start to the latest record.
    private(set) var lastSeconds = 0.0

    /// Starts the timeline: intervals are counted from `instant`.
    mutating func start(at instant: ContinuousClock.Instant = .now) {
        start = instant
        intervalSeconds = 0.1
        intervals = []
        lastSeconds = 0
    }

    /// Records `count` things that finished now, together taking `microseconds` (one latency, whatever the count);
    /// ignored before ``start(at:)``.
    mutating func record(microseconds: UInt64, count: Int = 1, at instant: ContinuousClock.Instant = .now) {
        guard let start else { return }
        let elapsed = max(0, (instant - start).seconds)
        lastSeconds = max(lastSeconds, elapsed)
        var index = Int(elapsed / intervalSeconds)
        while index >= Self.maximumIntervals {
            mergeNeighbours()
            index = Int(elapsed / intervalSeconds)
        }
        while intervals.count <= index { intervals.append(Interval()) }
        intervals[index].count += count
        _ = intervals[index].latency.record(max(1, microseconds))
    }

    /// The seconds interval `index` covers: the full width, except the last interval, which ends at the latest
    /// record (a tenth of the width at least, so that a rate over it stays finite).
    func width(ofInterval index: Int) -> Double {
        guard index == intervals.count - 1 else { return intervalSeconds }
        return max(intervalSeconds / 10, lastSeconds - Double(index) * intervalSeconds)
    }

    private mutating func mergeNeighbours() {
        var merged: [Interval] = []
        merged.reserveCapacity((intervals.count + 1) / 2)
        var index = 0
        while index < intervals.count {
            var interval = intervals[index]
            if index + 1 < intervals.count { interval.add(intervals[index + 1]) }
            merged.append(interval)
            index += 2
        }
        intervals = merged
        intervalSeconds *= 2
    }
}
