#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The store's write rate over one interval between two refreshes of the catalog.
public struct ThroughputSample: Hashable, Sendable, Codable {
    /// When the interval ended.
    public var time: Date
    /// The head position at the end of the interval.
    public var headPosition: UInt64
    /// Events committed per second over the interval.
    public var eventsPerSecond: Double

    /// Creates a sample.
    public init(time: Date, headPosition: UInt64, eventsPerSecond: Double) {
        self.time = time
        self.headPosition = headPosition
        self.eventsPerSecond = eventsPerSecond
    }
}
