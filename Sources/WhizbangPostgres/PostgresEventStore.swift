import Logging
import PostgresNIO
import Synchronization
public import Whizbang

/// An `EventStore` in a PostgreSQL database, shared by any number of processes and machines.
///
/// Appends from many tasks are folded into one transaction (group commit): one call of a server-side function per
/// batch, which checks each append's expected version in a subtransaction of its own, so that one conflict fails only
/// its own append, and numbers the events. Connections come from a postgres-nio `PostgresClient` pool, which
/// ``run()`` runs: the store is a ServiceLifecycle `Service`, and calls made before it runs wait until it has migrated
/// the schema.
///
/// ## Global order without gaps
///
/// PostgreSQL commits concurrent transactions in any order, so positions from a sequence could become visible out of
/// order: a reader would see 11 before 10 commits and never go back for it. This store rules that out. The append
/// function takes a transaction-level advisory lock of the store's schema (`pg_advisory_xact_lock`) before it reads
/// the head and numbers the new events, and PostgreSQL releases that lock only after the transaction's commit is
/// visible to new snapshots. So appends to one store, from any process, are numbered and committed one after another,
/// and a reader that sees position n + 1 also sees n. Group commit makes the lock cheap: one transaction holds it for
/// a whole batch of appends, and the lock is held only for the function's run and the commit's flush.
///
/// ## Waking subscribers
///
/// ``waitForEvents(after:)`` returns as soon as this store commits an append after the position, and, through
/// `LISTEN`/`NOTIFY` on the channel `whizbang_<schema>`, as soon as another process's append commits. Notifications
/// only wake; ``readAll(after:limit:)`` fetches.
///
/// ## Lifecycle
///
/// ```swift
/// let store = try PostgresEventStore(configuration: .init(url: "postgres://app@db.example.com/ledger"))
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await store.run() }
///     _ = try await store.append(events, to: "account-42", expectedVersion: .noStream)
///     store.close()
/// }
/// ```
///
/// ``close()`` (or graceful shutdown or cancellation of ``run()``) fails every pending and later call with
/// `EventStoreError/Code/closed`.
public final class PostgresEventStore: EventStore {
    /// The configuration the store was created with.
    public let configuration: Configuration

    let client: PostgresClient
    let runner: PostgresRequestRunner
    let writer: PostgresWriter
    let signal: AppendSignal
    /// Notified positions not yet confirmed, for ``waitForEvents(after:)``.
    let notifiedHead: NotifiedHead
    let lifecycle = PostgresStoreLifecycle()
    let readModels: PostgresReadModels
    /// Why the store closed itself while it ran (another store took the writer lock), which ``run()`` throws.
    let closedItself = Mutex<EventStoreError?>(nil)
    /// The sessions the listener opened to take the writer lock (``Configuration/holdsWriterLock``).
    let writerSessions = PostgresWriterLock.OwnSessions()
    /// The tables the store opened, which its appends and its listener check.
    let tables: StoreTables

    /// Creates a store for the database and schema of `configuration`; nothing connects until ``run()``.
    ///
    /// - Throws: `EventStoreError/Code/invalidArgument` for a configuration value out of range (the message never
    ///   contains the password); `ReadModelError/Code/duplicateName` when two of
    ///   ``Configuration/readModels`` share a name.
    public init(configuration: Configuration = Configuration()) throws {
        try configuration.validate()
        configuration.warnOfIgnoredPasswordFile()
        self.configuration = configuration
        let readModels = PostgresReadModels(
            definitions: try ReadModelDefinition.definitions(configuration.readModels), configuration: configuration)
        self.readModels = readModels
        // The read-model follower reads the head to know whether an inline read model was left behind.
        self.notifiedHead = NotifiedHead(confirmsAtOnce: !configuration.readModels.isEmpty)
        self.client = PostgresClient(
            configuration: configuration.clientConfiguration,
            backgroundLogger: configuration.poolLogger
        )
        let tables = StoreTables(schema: configuration.schema)
        self.tables = tables
        let runner = PostgresRequestRunner(client: client, configuration: configuration)
        self.runner = runner
        let signal = AppendSignal()
        self.signal = signal
        self.writer = PostgresWriter(
            runner: runner, signal: signal, readModels: readModels, tables: tables, configuration: configuration)
        tables.onReplaced { [weak self] closed in
            guard let self else { return }
            configuration.logger.warning(
                "PostgreSQL event store closed: an append found its tables dropped or replaced",
                metadata: ["schema": "\(configuration.schema)"])
            if self.finish(with: closed) { self.closedItself.withLock { $0 = closed } }
        }
    }

    deinit {
        close()
    }

    /// Fails every pending and later call with `EventStoreError/Code/closed` and makes ``run()`` return, which
    /// closes the connections. Calling it again does nothing.
    ///
    /// An append whose batch was already sent to the server fails with `closed` too, although it may commit; a
    /// retry with the same events and expected version tells, since appends are idempotent by event id.
    public func close() {
        finish(with: EventStoreError(.closed, message: "the event store was closed"))
    }

    /// Ends the store with `error`: the calls waiting for it to start or to commit, and every later call, fail so.
    /// Whether this call ended it (`false` when it had ended before).
    @discardableResult
    func finish(with error: EventStoreError) -> Bool {
        guard lifecycle.finish(with: error) else { return false }
        writer.finish(with: error)
        signal.close()
        readModels.progress.close()
        readModels.kicks.close()
        configuration.logger.debug("closed PostgreSQL event store", metadata: ["schema": "\(configuration.schema)"])
        return true
    }

    // MARK: Writes

    /// Appends events to a stream in the next group commit; see `EventStore/append(_:to:expectedVersion:)`.
    ///
    /// Returns after the transaction holding the append has committed. Once queued, an append is not cancelled by
    /// the caller's cancellation: it commits or fails as a whole.
    ///
    /// - Throws: `EventStoreError` — `wrongExpectedVersion`, `duplicateEventID`, `invalidStreamID`,
    ///   `invalidArgument` (an empty event type, text holding a NUL character, or two events with one id),
    ///   `payloadTooLarge`, `closed`, `unavailable` (retryable: the server was not reached or did not answer within
    ///   ``Configuration/requestTimeout``; the append may have committed), `incompatibleSchema` (the store failed to
    ///   start), `storageFull`, `readOnly` (also at once, for a store configured ``Configuration/isReadOnly``) or
    ///   `storageFailure`.
    public func append(
        _ events: [EventData],
        to streamID: StreamID,
        expectedVersion: ExpectedVersion
    ) async throws -> AppendResult {
        try refuseWriteIfReadOnly("an append", streamID: streamID)
        let bytes = try validate(events, streamID: streamID)
        try await waitUntilReady()
        return try await withUnsafeThrowingContinuation { continuation in
            writer.submit(
                PostgresWriter.Request(
                    events: events, streamID: streamID, expectedVersion: expectedVersion, bytes: bytes,
                    continuation: continuation))
        }
    }

    /// Saves a consumer's position, replacing the one it saved before.
    ///
    /// - Throws: `EventStoreError` — `invalidArgument` for an empty consumer name or one holding a NUL character,
    ///   or a position above `EventStoreValidation.maximumPosition`; `closed`, `unavailable` (retryable), or a
    ///   storage failure.
    public func saveCheckpoint(_ position: UInt64, for consumer: String) async throws {
        try refuseWriteIfReadOnly("saving a checkpoint")
        try EventStoreValidation.validateCheckpoint(position, for: consumer)
        try await performFencedWrite {
            PostgresStatements.SaveCheckpoint(consumer: consumer, position: Int64(bitPattern: position), tables: $0)
        }
    }

    /// Stores a snapshot. A stream keeps only its latest snapshot: one with a lower stream version than the stored
    /// one is ignored.
    ///
    /// - Throws: `EventStoreError` — `invalidStreamID`, `invalidArgument` (an empty state type, or text holding a
    ///   NUL character), `payloadTooLarge`, `closed`, `unavailable` (retryable), or a storage failure.
    public func saveSnapshot(_ snapshot: Snapshot) async throws {
        try refuseWriteIfReadOnly("saving a snapshot", streamID: snapshot.streamID)
        try validateStreamID(snapshot.streamID)
        try Self.validateText(snapshot.stateType, what: "a state type", streamID: snapshot.streamID)
        guard snapshot.data.count <= configuration.maximumPayloadBytes else {
            throw EventStoreError(
                .payloadTooLarge, streamID: snapshot.streamID,
                message: "a snapshot of \(snapshot.data.count) bytes is over the limit of "
                    + "\(configuration.maximumPayloadBytes)")
        }
        try await performFencedWrite { PostgresStatements.SaveSnapshot(snapshot: snapshot, tables: $0) }
    }

    // MARK: Reads

    /// Reads up to `limit` events of one stream; see `EventStore/readStream(_:from:direction:limit:)`.
    ///
    /// - Throws: `EventStoreError` — `invalidStreamID`, `invalidArgument` for a negative limit, `closed`, or a
    ///   storage failure.
    public func readStream(
        _ streamID: StreamID,
        from version: UInt64,
        direction: ReadDirection,
        limit: Int
    ) async throws -> [RecordedEvent] {
        try validateStreamID(streamID)
        try Self.validate(limit: limit)
        guard limit > 0 else { return [] }
        let version = Int64(clamping: version)
        let limit = Int64(limit)
        switch direction {
        case .forwards:
            return try await perform(PostgresStatements.ReadStreamForwards(streamID: streamID, version: version, limit: limit))
        case .backwards:
            return try await perform(
                PostgresStatements.ReadStreamBackwards(streamID: streamID, version: version, limit: limit))
        }
    }

    /// Reads up to `limit` events of the global log after `position`; see `EventStore/readAll(after:limit:)`.
    ///
    /// - Throws: `EventStoreError` — `invalidArgument` for a negative limit, `closed`, `unavailable` (retryable), or
    ///   a storage failure.
    public func readAll(after position: UInt64, limit: Int) async throws -> [RecordedEvent] {
        try Self.validate(limit: limit)
        guard limit > 0 else { return [] }
        return try await perform(PostgresStatements.ReadAll(after: Int64(clamping: position), limit: Int64(limit)))
    }

    /// Reads up to `limit` events of `eventTypes` after `position`, looking at most `scanLimit` positions ahead, and
    /// returns them with the position the read covered: that of the last event when `limit` were found, otherwise
    /// the end of the range it looked at (the head of the log, or `position + scanLimit`). Every event up to
    /// `through` that was not returned is of another type, so a reader of these types moves its checkpoint there.
    ///
    /// Appends take the store's append lock, so they commit in the order of their positions: once the head is
    /// seen at `H`, every event at or below `H` is committed and the range read after it has no gap to fill later.
    ///
    /// - Throws: `EventStoreError` — `invalidArgument` for a negative limit, `closed`, `unavailable` (retryable), or
    ///   a storage failure.
    package func readAll(
        after position: UInt64, limit: Int, eventTypes: Set<String>, scanLimit: UInt64 = 10_000
    ) async throws -> (events: [RecordedEvent], through: UInt64) {
        try Self.validate(limit: limit)
        guard limit > 0, scanLimit > 0 else { return ([], position) }
        let head = try await headPosition()
        guard head > position else { return ([], position) }
        let end = position + min(scanLimit, head - position)
        guard !eventTypes.isEmpty else { return ([], end) }
        let events = try await perform(
            PostgresStatements.ReadAllOfTypes(
                after: Int64(clamping: position), through: Int64(clamping: end), eventTypes: eventTypes.sorted(),
                limit: Int64(limit)))
        return (events, events.count == limit ? events[events.count - 1].position : end)
    }

    /// The position of the last event in the global log, or 0 if the store is empty.
    public func headPosition() async throws -> UInt64 {
        try RecordedEventColumns.stored(try await perform(PostgresStatements.Head()).first ?? 0, "log's head")
    }

    /// The version of a stream: the number of events in it, 0 if it has none.
    ///
    /// - Throws: `EventStoreError` — `invalidStreamID`, `closed`, `unavailable` (retryable), or a storage failure.
    public func streamVersion(of streamID: StreamID) async throws -> UInt64 {
        try validateStreamID(streamID)
        return try RecordedEventColumns.stored(
            try await perform(PostgresStatements.StreamVersion(streamID: streamID)).first ?? 0,
            "version of stream '\(streamID)'")
    }

    /// The event stored under `eventID`, or `nil`; see `EventStore/event(withID:)`. One lookup in the unique index on
    /// event ids.
    ///
    /// - Throws: `EventStoreError` — `closed`, `unavailable` (retryable), or a storage failure.
    public func event(withID eventID: MessageID) async throws -> RecordedEvent? {
        try await perform(PostgresStatements.EventByID(eventID: eventID)).first
    }

    /// Returns once the global log has an event after `position`; see `EventStore/waitForEvents(after:)`.
    ///
    /// Appends through this store wake waiters as they commit; appends by other processes wake them through
    /// PostgreSQL notifications.
    ///
    /// A notification from another process wakes waiters once the log is known to reach its position: a position
    /// past the head last read is confirmed by reading the head, by the listener or here (one query), so that a
    /// notification for commits a crash lost, or one sent by hand, wakes no one.
    public func waitForEvents(after position: UInt64) async throws {
        if signal.head > position { return }
        try await waitUntilReady()
        let notified = notifiedHead.beginWaiting()
        defer { notifiedHead.endWaiting() }
        if notified > position, notified > signal.head {
            signal.advance(to: min(notified, try await headPosition()))
        }
        try await signal.wait(after: position)
    }

    /// The position a consumer saved with ``saveCheckpoint(_:for:)``, or `nil` if it never saved one.
    public func checkpoint(for consumer: String) async throws -> UInt64? {
        try Self.validateText(consumer, what: "a consumer name")
        return try await perform(PostgresStatements.LoadCheckpoint(consumer: consumer)).first.map {
            UInt64(bitPattern: $0)
        }
    }

    /// The latest snapshot of a stream, or `nil` if there is none.
    public func latestSnapshot(for streamID: StreamID) async throws -> Snapshot? {
        try validateStreamID(streamID)
        return try await perform(PostgresStatements.LoadSnapshot(streamID: streamID)).first
    }

    /// Returns once the store is ready, waiting for ``run()`` to connect and migrate the schema for at most
    /// ``Configuration/connectTimeout`` plus ``Configuration/requestTimeout``, and at least a minute (a migration
    /// waits for the catalog locks of other sessions).
    package func waitUntilReady() async throws {
        let limit = max(.seconds(60), configuration.connectTimeout + configuration.requestTimeout)
        try await lifecycle.waitUntilReady(
            upTo: limit,
            notReady: EventStoreError(
                .unavailable, message: "the PostgreSQL event store did not start within \(limit); is run() running?"))
    }

    /// Runs a statement on a pooled connection once the store is ready, within ``Configuration/requestTimeout``,
    /// and collects its rows.
    func perform<Statement: PostgresPreparedStatement>(
        _ statement: Statement
    ) async throws -> [Statement.Row] where Statement.Row: Sendable {
        try await perform { try await runner.rows(of: statement) }
    }

    /// Runs a statement that writes, as ``perform(_:)`` does, in a transaction of its own: it returns only once
    /// `COMMIT` has answered. A statement run alone commits after PostgresNIO has reported it complete, so a commit
    /// that then failed (a deferred constraint, a server stopped at that moment) would have been reported as saved.
    ///
    /// The statement is made for the object id of the store's tables and returns the object id of the tables it
    /// found (``PostgresStatements/fence``): when they are not the ones the store opened, it wrote nothing, and the
    /// call fails as `closed` and closes the store.
    func performFencedWrite<Statement: PostgresPreparedStatement>(_ statement: @escaping @Sendable (Int64) -> Statement)
        async throws where Statement.Row == Int64
    {
        let logger = configuration.logger
        let tables = tables
        defer { tables.closeIfReplaced() }
        try await perform {
            // Read once the store is ready: until then it has not read its tables' id.
            let opened = tables.current
            try await runner.withConnection { connection in
                try await connection.withStoreTransaction(logger: logger) {
                    let found = try await connection.rows(of: statement(opened), logger: logger).first
                    // 0 names no table: a store that opened has its tables' id, and one found missing is refused.
                    if found != opened || opened == 0 { throw tables.foundReplaced() }
                }
            }
        }
    }

    private func perform<Result: Sendable>(_ request: () async throws -> Result) async throws -> Result {
        try await waitUntilReady()
        try lifecycle.beginOperation()
        defer { lifecycle.endOperation() }
        do {
            return try await request()
        } catch {
            // A cancelled caller gets the cancellation, not the pool's words for it.
            if Task.isCancelled && !lifecycle.isClosed { throw CancellationError() }
            throw runner.failure(error, closed: lifecycle.isClosed)
        }
    }
}
