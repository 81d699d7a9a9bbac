#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Logging
public import Synchronization

/// Loads aggregates from an event store and saves their new events with optimistic concurrency.
///
/// Loading looks in a bounded least-recently-used cache first, then starts from the latest snapshot (if its type
/// matches ``Aggregate/snapshotType``) and applies the events after it, or replays the whole stream. Saving appends
/// with the expected version the aggregate was loaded at, so a concurrent writer that got there first makes the save
/// fail with ``EventStoreError/Code/wrongExpectedVersion`` instead of overwriting its events; the cache entry is then
/// dropped so the next load reads the store.
///
/// The cache holds at most ``RepositoryConfiguration/cacheCapacity`` aggregates, so memory does not grow with the
/// number of aggregates touched. It is safe for any number of concurrent callers; the ``Dispatcher`` serialises the
/// commands of each stream, so that its cache entries are almost always current.
///
/// A command does not read a cached aggregate again before it decides: events another writer appended since (another
/// process on the same store, or another repository) are found when they matter. A save then fails with
/// `wrongExpectedVersion`, and a command that an ``AggregateHandler`` decided on a cached aggregate without new
/// events, or that its decision rejected, is decided again once the stream's version shows that the aggregate was
/// behind. ``load(_:)``, which answers a question rather than deciding a command, checks the stream's version of a
/// cached aggregate before it returns it.
public final class Repository<A: Aggregate, Store: EventStore>: Sendable {
    /// The repository's configuration, under its former nested name.
    @available(*, deprecated, renamed: "RepositoryConfiguration")
    public typealias Configuration = RepositoryConfiguration

    /// The store the repository reads and writes.
    public let store: Store
    /// The configuration the repository was created with.
    public let configuration: RepositoryConfiguration
    /// Each cached aggregate's state and version, by stream (the stream id is the key, not stored twice).
    @usableFromInline let cache: Mutex<LRUCache<StreamID, (state: A.State, version: UInt64)>>
    @usableFromInline let snapshotCoder = JSONPayloadCodec<A.State>()
    @usableFromInline let logger: Logger

    /// Creates a repository over `store`.
    public init(
        store: Store, configuration: RepositoryConfiguration = RepositoryConfiguration(), logger: Logger? = nil
    ) {
        self.store = store
        self.configuration = configuration
        self.cache = Mutex(LRUCache(capacity: configuration.cacheCapacity))
        self.logger = logger ?? Logger(label: "whizbang.repository")
    }

    /// The number of aggregates in the cache.
    public var cachedCount: Int {
        cache.withLock { $0.count }
    }

    /// Loads an aggregate's current state.
    ///
    /// An aggregate in the cache is checked against its stream's version first (one read of the version, not of the
    /// events): when another writer appended to the stream since this repository last saw it (another process on
    /// the same store, or another repository), the aggregate is read again from the store.
    ///
    /// - Throws: the store's errors, or ``EventDecodingError`` (naming the event's stream, version, position and type)
    ///   for an event the aggregate's registry cannot decode.
    @inlinable
    public func load(_ streamID: StreamID) async throws -> LoadedAggregate<A> {
        let (aggregate, cached) = try await loadNotingCache(streamID)
        guard cached else { return aggregate }
        return try await reloadIfBehind(aggregate) ?? aggregate
    }

    /// ``load(_:)``, and whether the aggregate came from the cache (and so may be behind another process's writes).
    @inlinable
    func loadNotingCache(_ streamID: StreamID) async throws -> (aggregate: LoadedAggregate<A>, cached: Bool) {
        if let cached = cache.withLock({ $0.value(for: streamID) }) {
            return (LoadedAggregate(streamID: streamID, state: cached.state, version: cached.version), true)
        }
        return (try await loadFromStore(streamID), false)
    }

    /// Reads `loaded`'s stream version; when the store holds events past it (another process, or another repository
    /// on the same store, appended them), drops the cache entry and loads the aggregate from the store.
    ///
    /// - Returns: the aggregate read again, or `nil` when `loaded` is current.
    @inlinable
    func reloadIfBehind(_ loaded: LoadedAggregate<A>) async throws -> LoadedAggregate<A>? {
        guard try await store.streamVersion(of: loaded.streamID) != loaded.version else { return nil }
        invalidate(loaded.streamID)
        return try await loadFromStore(loaded.streamID)
    }

    @inlinable
    func loadFromStore(_ streamID: StreamID) async throws -> LoadedAggregate<A> {
        var state = A.initialState
        var version: UInt64 = 0
        if configuration.snapshotInterval != nil, let snapshot = try await store.latestSnapshot(for: streamID),
            snapshot.stateType == A.snapshotType
        {
            do {
                state = try snapshotCoder.decode(snapshot.data)
                version = snapshot.streamVersion
            } catch {
                logger.debug(
                    "ignoring an undecodable snapshot",
                    metadata: ["stream": "\(streamID)", "error": "\(error)"])
            }
        }
        let batchSize = max(1, configuration.readBatchSize)
        // The first read starts at the snapshot's own last event, which must be there: a snapshot ahead of its
        // stream (saved by mistake, or its stream restored shorter) would make every append expect a version the
        // stream does not have. Such a snapshot is set aside, and the stream read from its start.
        var checksSnapshot = version > 0
        var from = checksSnapshot ? version : 1
        while true {
            let events = try await store.readStream(streamID, from: from, direction: .forwards, limit: batchSize)
            var unread = events[...]
            if checksSnapshot {
                checksSnapshot = false
                guard unread.first?.streamVersion == version else {
                    logger.warning(
                        "ignoring a snapshot ahead of its stream",
                        metadata: ["stream": "\(streamID)", "snapshotVersion": "\(version)"])
                    (state, version, from) = (A.initialState, 0, 1)
                    continue
                }
                unread = unread.dropFirst()
            }
            for event in unread {
                state = A.evolve(state, try A.events.decode(event))
                version = event.streamVersion
            }
            if events.count < batchSize { break }
            from = version + 1
        }
        let loaded = LoadedAggregate<A>(streamID: streamID, state: state, version: version)
        remember(loaded)
        return loaded
    }

    /// Appends `events` to an aggregate loaded at `loaded.version`, and returns the state after them.
    ///
    /// - Parameters:
    ///   - events: the new events, in order. An empty array writes nothing; its result's positions are then empty
    ///     and placed after the head of the log, as those of an empty append.
    ///   - loaded: the aggregate as it was loaded; its version is the expected version.
    ///   - metadata: the encoded envelope stored with every event, usually that of the command that caused them.
    /// - Returns: the store's result and the aggregate after the events.
    /// - Throws: ``EventStoreError`` (``EventStoreError/Code/wrongExpectedVersion`` when another writer appended
    ///   first) or ``EventCodingError``, after which the aggregate's cache entry is dropped; for no events, the
    ///   error of the head's read (such as `unavailable`), which leaves the cache as it was.
    @inlinable
    public func save(
        _ events: [A.Event],
        after loaded: LoadedAggregate<A>,
        metadata: Data = Data()
    ) async throws -> (result: AppendResult, aggregate: LoadedAggregate<A>) {
        if events.isEmpty {
            // Placed where the next event would go, as the store places an empty append: `upperBound - 1`, the
            // position to wait for to read one's own writes, is then the head, never 0 - 1.
            let next = try await store.headPosition() + 1
            return (
                AppendResult(streamID: loaded.streamID, streamVersion: loaded.version, positions: next..<next), loaded
            )
        }
        let streamID = loaded.streamID
        do {
            var data: [EventData] = []
            data.reserveCapacity(events.count)
            for event in events {
                data.append(try A.events.eventData(for: event, metadata: metadata))
            }
            let result = try await store.append(data, to: streamID, expectedVersion: .exact(loaded.version))
            let saved = LoadedAggregate<A>(
                streamID: streamID, state: A.evolve(loaded.state, events), version: result.streamVersion)
            remember(saved)
            if let interval = configuration.snapshotInterval, interval > 0,
                loaded.version / UInt64(interval) != saved.version / UInt64(interval)
            {
                await saveSnapshot(of: saved)
            }
            return (result, saved)
        } catch {
            invalidate(streamID)
            throw error
        }
    }

    /// Drops a stream's cache entry, so that its next load reads the store.
    @inlinable
    public func invalidate(_ streamID: StreamID) {
        cache.withLock { $0.removeValue(for: streamID) }
    }

    /// Drops every cache entry.
    public func invalidateAll() {
        cache.withLock { $0.removeAll() }
    }

    @inlinable
    func remember(_ loaded: LoadedAggregate<A>) {
        cache.withLock { cache in
            // A load racing with a save must not replace a newer entry with an older one.
            if let current = cache.value(for: loaded.streamID), current.version > loaded.version { return }
            cache.set((loaded.state, loaded.version), for: loaded.streamID)
        }
    }

    @usableFromInline
    func saveSnapshot(of aggregate: LoadedAggregate<A>) async {
        do {
            let data = try snapshotCoder.encode(aggregate.state)
            try await store.saveSnapshot(
                Snapshot(
                    streamID: aggregate.streamID, streamVersion: aggregate.version, stateType: A.snapshotType,
                    data: data))
        } catch {
            logger.debug(
                "snapshot not saved", metadata: ["stream": "\(aggregate.streamID)", "error": "\(error)"])
        }
    }
}
