#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import DequeModule
import Synchronization
public import Whizbang

/// The streams of a store and its write rate, learnt by following the global log.
///
/// The `EventStore` protocol reads streams by id and the log by position, but has no list of streams; the catalog
/// builds one by reading the log once from the start and then only what was appended since, on each
/// ``refresh(from:at:)``. It holds one entry per stream (id, version, last position) in memory, sorted by the ids'
/// UTF-8 bytes, so that streams whose ids share a prefix are listed together.
///
/// Each refresh reads at most ``Configuration/maximumEventsPerRefresh`` events, so that a first refresh of a large
/// store returns in bounded time; the overview says how far the catalog has read.
///
/// All methods may be called concurrently; the state is guarded by a mutex, and the store is read outside it.
public final class StreamCatalog: Sendable {
    /// How the catalog reads and what it keeps.
    public struct Configuration: Sendable {
        /// The most events read per call of `EventStore/readAll(after:limit:)`. Default 4,096; at least 1.
        public var batchSize: Int
        /// About the most bytes of payload and metadata one read holds: the catalog needs only each event's stream,
        /// version and position, but the store reads whole events. Reads start at one event, double while they hold
        /// less than half of this, up to ``batchSize``, and halve when they hold more, so that large events are read
        /// a few at a time (a read holds at most twice this, or one event larger than that). Default 4 MiB; at
        /// least 1.
        public var maximumBatchBytes: Int
        /// Events read by one refresh at most. Default 262,144; at least 1.
        public var maximumEventsPerRefresh: Int
        /// Throughput samples kept, one per refresh: with a refresh a second, the default 600 is ten minutes. At
        /// least 1.
        public var maximumSamples: Int

        /// The defaults.
        public init() {
            batchSize = 4096
            maximumBatchBytes = 4 << 20
            maximumEventsPerRefresh = 262_144
            maximumSamples = 600
        }
    }

    private struct Entry {
        var version: UInt64
        var lastPosition: UInt64
    }

    private struct State {
        var entries: [StreamID: Entry] = [:]
        /// Every key of `entries`, in byte order.
        var sortedIDs: [StreamID] = []
        /// The position up to which the log has been read.
        var indexedPosition: UInt64 = 0
        var samples: Deque<ThroughputSample> = []
        var lastHead: (time: Date, position: UInt64)?
        /// The events the next read asks for (see ``Configuration/maximumBatchBytes``); 0 (one) before the first.
        var readLimit = 0
    }

    /// The configuration the catalog was made with.
    public let configuration: Configuration
    private let state = Mutex(State())

    /// Creates an empty catalog; the first ``refresh(from:at:)`` fills it.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The position up to which the catalog has read the log.
    public var indexedPosition: UInt64 {
        state.withLock { $0.indexedPosition }
    }

    /// The number of streams read so far.
    public var streamCount: Int {
        state.withLock { $0.entries.count }
    }

    /// The throughput samples kept, oldest first.
    public var samples: [ThroughputSample] {
        state.withLock { Array($0.samples) }
    }

    /// The write rate over the latest interval, or 0 before the second refresh.
    public var eventsPerSecond: Double {
        state.withLock { $0.samples.last?.eventsPerSecond ?? 0 }
    }

    /// Reads what the store appended since the last refresh (up to the per-refresh limit) and records a throughput
    /// sample at `time`.
    ///
    /// Refreshes may overlap: each reads from the position the catalog had reached when it started, and an event
    /// already counted is skipped, so overlapping refreshes cost reads, never correctness.
    ///
    /// - Returns: the head position the store reported.
    /// - Throws: whatever the store throws; the catalog keeps what it had read before.
    @discardableResult
    public func refresh(from store: some EventStore, at time: Date) async throws -> UInt64 {
        let head = try await store.headPosition()
        var budget = configuration.maximumEventsPerRefresh
        var position = indexedPosition
        while position < head, budget > 0 {
            let wanted = state.withLock { max(1, $0.readLimit) }
            let limit = min(wanted, budget)
            let events = try await store.readAll(after: position, limit: limit)
            guard let last = events.last else { break }
            absorb(events)
            position = last.position
            budget -= events.count
            let bytes = events.reduce(0) { $0 + $1.data.count + $1.metadata.count }
            state.withLock { state in
                if bytes > configuration.maximumBatchBytes {
                    state.readLimit = max(1, wanted / 2)
                } else if events.count == limit, limit == wanted, bytes <= configuration.maximumBatchBytes / 2 {
                    state.readLimit = min(configuration.batchSize, wanted * 2)
                } else {
                    state.readLimit = wanted
                }
            }
            if events.count < limit { break }
        }
        state.withLock { state in
            if let previous = state.lastHead, time > previous.time {
                let seconds = time.timeIntervalSince(previous.time)
                let rate = Double(head >= previous.position ? head - previous.position : 0) / seconds
                state.samples.append(ThroughputSample(time: time, headPosition: head, eventsPerSecond: rate))
                while state.samples.count > configuration.maximumSamples { state.samples.removeFirst() }
            }
            if state.lastHead.map({ time > $0.time }) ?? true { state.lastHead = (time, head) }
        }
        return head
    }

    /// Up to `limit` streams whose ids start with `prefix` (compared byte by byte) and come after `after`, in byte
    /// order of their ids.
    public func streams(prefix: String, after: StreamID?, limit: Int) -> [StreamSummary] {
        state.withLock { state in
            let start = StreamID(prefix)
            var index = Self.firstIndex(in: state.sortedIDs, notBefore: start)
            if let after {
                index = max(index, Self.firstIndex(in: state.sortedIDs, notBefore: after))
                if index < state.sortedIDs.count, state.sortedIDs[index] == after { index += 1 }
            }
            var found: [StreamSummary] = []
            let prefixBytes = Array(prefix.utf8)
            while index < state.sortedIDs.count, found.count < limit {
                let id = state.sortedIDs[index]
                guard id.rawValue.utf8.starts(with: prefixBytes) else { break }
                if let entry = state.entries[id] {
                    found.append(StreamSummary(streamID: id, version: entry.version, lastPosition: entry.lastPosition))
                }
                index += 1
            }
            return found
        }
    }

    private func absorb(_ events: [RecordedEvent]) {
        state.withLock { state in
            var newIDs: [StreamID] = []
            for event in events where event.position > state.indexedPosition {
                if var entry = state.entries[event.streamID] {
                    entry.version = max(entry.version, event.streamVersion)
                    entry.lastPosition = max(entry.lastPosition, event.position)
                    state.entries[event.streamID] = entry
                } else {
                    state.entries[event.streamID] = Entry(version: event.streamVersion, lastPosition: event.position)
                    newIDs.append(event.streamID)
                }
                state.indexedPosition = event.position
            }
            guard !newIDs.isEmpty else { return }
            newIDs.sort()
            state.sortedIDs = Self.merge(state.sortedIDs, newIDs)
        }
    }

    /// Merges two sorted arrays in linear time: a batch of new streams costs one pass, not one insertion each.
    private static func merge(_ left: [StreamID], _ right: [StreamID]) -> [StreamID] {
        var merged: [StreamID] = []
        merged.reserveCapacity(left.count + right.count)
        var leftIndex = 0
        var rightIndex = 0
        while leftIndex < left.count, rightIndex < right.count {
            if right[rightIndex] < left[leftIndex] {
                merged.append(right[rightIndex])
                rightIndex += 1
            } else {
                merged.append(left[leftIndex])
                leftIndex += 1
            }
        }
        merged.append(contentsOf: left[leftIndex...])
        merged.append(contentsOf: right[rightIndex...])
        return merged
    }

    /// The index of the first id not ordered before `id`.
    private static func firstIndex(in ids: [StreamID], notBefore id: StreamID) -> Int {
        var low = 0
        var high = ids.count
        while low < high {
            let middle = (low + high) / 2
            if ids[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
