import Metrics

/// The metrics one projection reports through swift-metrics.
struct ProjectionMetrics: Sendable {
    /// Events in the log after the projection's position: head − checkpoint.
    let lag: Gauge
    /// Events applied.
    let eventsApplied: Counter
    /// Time to apply a batch and save its checkpoint.
    let batchDuration: Metrics.Timer

    init(projection: String) {
        let dimensions = [("projection", projection)]
        lag = Gauge(label: "whizbang_projection_lag_events", dimensions: dimensions)
        eventsApplied = Counter(label: "whizbang_projection_events_applied_total", dimensions: dimensions)
        batchDuration = Metrics.Timer(label: "whizbang_projection_batch_duration_seconds", dimensions: dimensions)
    }
}

extension ProjectionMetrics {
    /// Records the lag of a projection at `position` in a log whose head is `head`.
    func recordLag(head: UInt64, position: UInt64) {
        lag.record(Int64(clamping: head - Swift.min(head, position)))
    }

    /// Records a lag of `events`.
    func recordLag(_ events: Int64) {
        lag.record(events)
    }

    /// Records an applied batch.
    func recordBatch(count: Int, duration: Duration) {
        eventsApplied.increment(by: count)
        batchDuration.record(duration: duration)
    }
}
