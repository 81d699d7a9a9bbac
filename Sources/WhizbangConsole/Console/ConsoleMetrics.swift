import Foundation
import Prometheus

/// The gauges the console itself keeps up to date in its Prometheus registry: the head position, the write rate,
/// each configured projection's lag, and whether the store answered the console's last read of it (the other gauges
/// keep the values of the last read that succeeded, so a scrape during an outage tells them apart by this one and by
/// the time of that read).
struct ConsoleMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let headPosition: Gauge
    private let eventsPerSecond: Gauge
    private let streams: Gauge
    private let storeUp: Gauge
    private let lastRead: Gauge

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        headPosition = registry.makeGauge(
            descriptor: Self.describe("store", "head", "position", "The position of the last event in the global log."))
        eventsPerSecond = registry.makeGauge(
            descriptor: Self.describe(
                "store", "events_per", "second", "Events appended per second over the last interval."))
        streams = registry.makeGauge(
            descriptor: Self.describe("store", "stream", "count", "Streams the console's catalog has read."))
        storeUp = registry.makeGauge(
            descriptor: Self.describe(
                "console", "store", "up", "1 when the store answered the console's last read of it, 0 when not."))
        lastRead = registry.makeGauge(
            descriptor: Self.describe(
                "console", "last_read", "timestamp_seconds",
                "When the store last answered a read of the console's, in seconds since 1970."))
    }

    /// Records whether the store answered a read, and when, if it did.
    func record(storeAnswered: Bool, at now: Date = Date()) {
        storeUp.set(storeAnswered ? 1.0 : 0.0)
        if storeAnswered { lastRead.set(now.timeIntervalSince1970) }
    }

    func record(overview: OverviewView) {
        headPosition.set(Double(overview.headPosition))
        eventsPerSecond.set(overview.eventsPerSecond)
        streams.set(Double(overview.streamCount))
        record(projections: overview.projections)
    }

    func record(projections: [ProjectionView]) {
        for projection in projections {
            let labels = [("projection", projection.name)]
            registry.makeGauge(
                descriptor: Self.describe(
                    "projection", "lag", "events", "Events in the log that the projection has not handled yet."),
                labels: labels
            ).set(Double(projection.lagEvents))
            registry.makeGauge(
                descriptor: Self.describe(
                    "projection", "lag", "seconds",
                    "Seconds since the oldest event the projection has not handled was recorded."),
                labels: labels
            ).set(projection.lagSeconds)
        }
    }

    /// The registry's metrics in the Prometheus text format.
    func exposition() -> String {
        registry.emitToString()
    }

    /// `whizbang_<subsystem>_<name>_<unit>`.
    private static func describe(_ subsystem: String, _ name: String, _ unit: String, _ help: String)
        -> MetricNameDescriptor
    {
        MetricNameDescriptor(namespace: "whizbang", subsystem: subsystem, metricName: name, unitName: unit, helpText: help)
    }
}
