import Synchronization
import Whizbang

/// An event store that delegates to an in-memory one and counts the stream reads it is asked for; past
/// `maximumReads` it throws, so that a caller that would read for ever is stopped and seen.
final class CountingStore: DelegatingEventStore {
    struct TooManyReads: Error, Equatable {
        var limitsAsked: [Int]
    }

    let inner = InMemoryEventStore()
    let maximumReads: Int
    private let limits = Mutex<[Int]>([])

    init(maximumReads: Int = 100) {
        self.maximumReads = maximumReads
    }

    var readLimits: [Int] { limits.withLock { $0 } }

    func readStream(_ streamID: StreamID, from version: UInt64, direction: ReadDirection, limit: Int) async throws
        -> [RecordedEvent]
    {
        let asked = limits.withLock { limits -> [Int]? in
            limits.append(limit)
            return limits.count > maximumReads ? limits : nil
        }
        if let asked { throw TooManyReads(limitsAsked: Array(asked.prefix(5))) }
        return try await inner.readStream(streamID, from: version, direction: direction, limit: limit)
    }
}
