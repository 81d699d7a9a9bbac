import Histogram

/// The timeline of a replay, for its ``ChartReport``: events applied over time, and the time each batch took from
/// the previous one to its application.
struct ReplayTimeline {
    private(set) var timeline = RunTimeline()
    /// Every batch's time, in microseconds.
    private(set) var batchTimes = Histogram<UInt64>(
        highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    private var applied = 0
    private var last: ContinuousClock.Instant

    /// A timeline that starts now.
    init() {
        last = .now
        timeline.start(at: last)
    }

    /// Notes that `total` events are applied by now (the replay's progress callback).
    mutating func applied(_ total: Int) {
        let now = ContinuousClock.now
        guard total > applied else { return }
        let microseconds = UInt64(max(1, ((now - last).seconds * 1_000_000).rounded()))
        timeline.record(microseconds: microseconds, count: total - applied, at: now)
        _ = batchTimes.record(microseconds)
        applied = total
        last = now
    }
}
