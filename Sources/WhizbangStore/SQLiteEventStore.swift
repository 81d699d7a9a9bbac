import CWhizbangSQLite
import Foundation
import Logging
import Synchronization
public import Whizbang

/// An `EventStore` in one SQLite file: durable, crash-safe, and shareable by several processes.
///
/// One writer connection on a thread of its own folds every pending append into one transaction (group commit, a
/// `SAVEPOINT` per append so that a conflict fails only its own append) and resumes the callers after the commit —
/// after fsync with the default ``Configuration/Durability/full`` durability. Reads run on a few reader connections,
/// each on a thread of its own, so no SQLite call ever blocks Swift's cooperative thread pool. The database uses
/// WAL mode; SQL statements are prepared once and reused.
///
/// Global positions are the `events` table's row ids, assigned by the one writer in commit order. They are dense:
/// an append that fails is rolled back before the next one in its transaction takes the same positions, so the log
/// never has a gap, and a reader never sees a position that a later commit fills in. See `SQLiteSchema` for the
/// tables (legible in the `sqlite3` shell).
///
/// Several stores — in one process or in several — may open the same file: `BEGIN IMMEDIATE` and the busy timeout
/// serialise their transactions, and a conflict between them is an ordinary
/// `EventStoreError/Code/wrongExpectedVersion`. ``waitForEvents(after:)`` and the read models notice another
/// process's appends within ``Configuration/externalChangePollInterval``.
///
/// Open a store with ``open(path:configuration:)`` (or ``init(path:configuration:)`` outside async code) and close
/// it when done: ``shutdown()`` from async code, ``close()`` from synchronous code; closing also happens when the
/// last reference goes away. Reads observe their task's cancellation and then throw `CancellationError`.
public final class SQLiteEventStore: EventStore {
    /// The database file.
    public let path: String
    /// The configuration the store was opened with.
    public let configuration: Configuration

    let writer: SQLiteWriter
    let readers: SQLiteReaderPool
    private let maintenance: SQLiteMaintenance
    private let signal: AppendSignal
    /// Advanced by the writer after each commit that may change a read model.
    let readModelSignal = AppendSignal()
    /// The registered read models.
    let readModelDefinitions: [ReadModelDefinition]
    /// How many times ``readModelStatus(named:)`` read a status; see `readModelStatusReadCount`.
    let readModelStatusReads = Atomic<Int>(0)
    private let closing = Mutex(ClosingState.open)

    /// Opens the store at `path`, creating the file (mode 0600) and its schema if needed, or migrating an older
    /// schema forwards. An empty file at `path` is an empty SQLite database, as SQLite reads it: the store is created
    /// in it (keeping its owner and mode), as in a file made for it beforehand. `path` always names a file: SQLite's
    /// special names are not read as such (`:memory:` is the file of that name in the working directory, and a name
    /// that starts with `file:` is a file's, not a URI).
    ///
    /// An older schema holding objects named as a later version's (someone else's table `read_models`, say) is
    /// refused with `invalidArgument`, naming them, before anything is changed.
    ///
    /// This blocks the calling thread while SQLite opens the file; from async code prefer
    /// ``open(path:configuration:)``.
    ///
    /// - Throws: `EventStoreError` — `notADatabase`, `corruptDatabase`, `incompatibleSchema` (a newer schema or
    ///   another application's database), `readOnly` (the file or its directory cannot be written, or a WAL or
    ///   shared-memory file beside it that another user's read left cannot be, which the message names),
    ///   `invalidArgument` (a configuration value out of range, a path that names a directory, a WAL or journal
    ///   named after a database that is not there, which SQLite would read into a new one, a rollback journal
    ///   beside the database, which SQLite would roll back into it (one that a store creating the database uses is
    ///   waited for, up to ``Configuration/busyTimeout``), or a file name too long for SQLite to name its files
    ///   after: more than 247 bytes for a new database, 251 for one in WAL mode), `unavailable` (another
    ///   connection held a lock longer than ``Configuration/busyTimeout``), `storageFull` or `storageFailure`; or
    ///   `ReadModelError` (`duplicateName`) when two of ``Configuration/readModels`` share a name.
    public init(path: String, configuration: Configuration = Configuration()) throws {
        try Self.validate(configuration)
        self.path = path
        self.configuration = configuration
        self.readModelDefinitions = try ReadModelDefinition.definitions(configuration.readModels)
        do {
            try SQLiteConnection.createFileIfNeeded(at: path, busyTimeout: configuration.busyTimeout)
            try SQLiteSchema.checkCompatible(path: path)
            let writerConnection = try Self.openConnection(path, configuration, role: .writer)
            try SQLiteSchema.migrate(writerConnection, nowMicroseconds: Self.nowMicroseconds())
            try Self.createInlineProjectionSchemas(configuration.inlineProjections, on: writerConnection)
            let readModels =
                readModelDefinitions.isEmpty
                ? nil
                : try SQLiteReadModels(
                    readModelDefinitions, connection: writerConnection, batchSize: configuration.readModelBatchSize,
                    batchCommitted: configuration.readModelBatchCommitted)
            let head = try Self.checkedHead(writerConnection)
            let signal = AppendSignal(head: head)
            self.signal = signal
            let writer = try SQLiteWriter(
                connection: writerConnection, signal: signal, configuration: configuration, readModels: readModels,
                readModelSignal: readModelSignal)
            self.writer = writer
            var readers: [SQLiteReader] = []
            for _ in 0..<configuration.readerCount {
                readers.append(try SQLiteReader(connection: Self.openConnection(path, configuration, role: .reader)))
            }
            self.readers = SQLiteReaderPool(readers: readers)
            var externalAppends: (@Sendable (UInt64) -> Void)?
            if readModels != nil { externalAppends = { head in writer.noteExternalAppends(upTo: head) } }
            self.maintenance = try SQLiteMaintenance(
                connection: Self.openConnection(path, configuration, role: .maintenance),
                signal: signal,
                configuration: configuration,
                externalAppends: externalAppends
            )
        } catch let error as SQLiteError {
            throw error.eventStoreError
        }
        writer.installWALHook(
            maintenance: maintenance, threshold: configuration.checkpointPages,
            maximumBytes: configuration.maximumWALBytes)
        writer.start()
        readers.start()
        maintenance.start()
        configuration.logger.debug(
            "opened SQLite event store",
            metadata: ["path": "\(path)", "head": "\(signal.head)", "durability": "\(configuration.durability)"]
        )
    }

    /// Opens the store at `path` on a thread of its own, so the caller's task does not block the cooperative thread
    /// pool; see ``init(path:configuration:)`` for what it does and throws.
    public static func open(path: String, configuration: Configuration = Configuration()) async throws
        -> SQLiteEventStore
    {
        try await withUnsafeThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try SQLiteEventStore(path: path, configuration: configuration))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "whizbang.sqlite.open"
            thread.start()
        }
    }

    deinit {
        guard closing.withLock({ $0.begin() }) else { return }
        guard isOnOwnThread else {
            closeConnections()
            return
        }
        // The last reference went on one of the store's own threads, which cannot wait for itself: the parts close
        // on a thread of their own (nobody waits in `shutdown()`, which would hold a reference).
        let (writer, readers, maintenance, signal, readModelSignal) =
            (writer, readers, maintenance, signal, readModelSignal)
        let thread = Thread {
            Self.close(writer: writer, readers: readers, maintenance: maintenance, signals: [signal, readModelSignal])
        }
        thread.name = "whizbang.sqlite.close"
        thread.start()
    }

    /// Finishes the writes already queued, then closes every connection; later calls fail with
    /// `EventStoreError/Code/closed`, and so do tasks waiting in ``waitForEvents(after:)``.
    ///
    /// Blocks the calling thread until the writer has committed what was queued (at most one transaction) and the
    /// store is closed, also when another call is closing it; from async code call ``shutdown()``, which waits
    /// without holding a thread of the cooperative pool. Calling it on a closed store does nothing.
    ///
    /// Called from the store's own threads — an inline projection's or a read model's code, which runs on the
    /// writer's thread, or a reduction's, on a reader's — it does not block (that thread would wait for itself): the
    /// store refuses later calls at once, the batch under way commits or fails as with any close, the rest of the
    /// close goes on on a thread of its own, and the call returns. ``shutdown()`` returns once the store is closed.
    /// Never block one of those threads on the store's closing in another way (waiting there for a task that awaits
    /// ``shutdown()``, say): the close waits for them.
    public func close() {
        let onOwnThread = isOnOwnThread
        let closed = DispatchSemaphore(value: 0)
        let waiter: @Sendable () -> Void = { closed.signal() }
        let action = closing.withLock { $0.wait(waiter) }
        switch action {
        case .close where onOwnThread:
            writer.beginClose()
            readers.beginClose()
            let thread = Thread { [self] in closeConnections() }
            thread.name = "whizbang.sqlite.close"
            thread.start()
        case .close:
            closeConnections()
        case .wait where !onOwnThread:
            closed.wait()
        case .wait, .resume:
            break
        }
    }

    /// Whether the caller runs on the writer's thread or a reader's.
    private var isOnOwnThread: Bool { writer.isCurrentThread || readers.isCurrentThread }

    /// Closes the store as ``close()`` does, suspending the calling task instead of blocking its thread: the
    /// writer's last transaction and the connections' closing run on a thread of their own.
    ///
    /// Returns once the store is closed, also when another call closed or is closing it.
    public func shutdown() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let action = closing.withLock { $0.wait({ continuation.resume() }) }
            switch action {
            case .close:
                let thread = Thread { [self] in closeConnections() }
                thread.name = "whizbang.sqlite.close"
                thread.start()
            case .wait:
                break
            case .resume:
                continuation.resume()
            }
        }
    }

    /// Closes the writer, readers and maintenance connection in turn, then resumes every task waiting in
    /// ``shutdown()``.
    private func closeConnections() {
        Self.close(writer: writer, readers: readers, maintenance: maintenance, signals: [signal, readModelSignal])
        configuration.logger.debug("closed SQLite event store", metadata: ["path": "\(path)"])
        for waiter in closing.withLock({ $0.finish() }) { waiter() }
    }

    /// Closes the writer, the readers and the maintenance connection in turn, then the signals.
    private static func close(
        writer: SQLiteWriter, readers: SQLiteReaderPool, maintenance: SQLiteMaintenance, signals: [AppendSignal]
    ) {
        writer.close()
        readers.close()
        maintenance.close()
        for signal in signals { signal.close() }
    }

    /// How many WAL writes the writer gathered and how many it wrote to the file (see
    /// ``Configuration/gathersWALWrites``); `nil` when it does not gather them.
    var walWriteCounts: (gathered: Int, issued: Int)? {
        guard let gathering = writer.walGathering else { return nil }
        return (gathering.gatheredWrites.load(ordering: .relaxed), gathering.issuedWrites.load(ordering: .relaxed))
    }

    // MARK: Writes

    /// Appends events to a stream in the next group commit; see `EventStore/append(_:to:expectedVersion:)`.
    ///
    /// Returns after the transaction that holds the append has committed (and, with
    /// ``Configuration/Durability/full``, been fsynced). Once queued, an append is not cancelled by the caller's
    /// cancellation: it commits or fails as a whole.
    ///
    /// - Throws: `EventStoreError` — `wrongExpectedVersion`, `duplicateEventID`, `invalidStreamID`,
    ///   `invalidArgument` (an empty event type, or two events with one id), `payloadTooLarge` (data or metadata over
    ///   ``Configuration/maximumPayloadBytes``), `closed`, `readOnly`, `unavailable` (retryable: another connection
    ///   held the write lock longer than ``Configuration/busyTimeout``), `storageFull` or `storageFailure`.
    public func append(
        _ events: [EventData],
        to streamID: StreamID,
        expectedVersion: ExpectedVersion
    ) async throws -> AppendResult {
        try validate(events, streamID: streamID)
        return try await withUnsafeThrowingContinuation { continuation in
            writer.submit(
                .append(
                    .init(
                        events: events,
                        streamID: streamID,
                        expectedVersion: expectedVersion,
                        continuation: continuation
                    )
                )
            )
        }
    }

    /// Saves a consumer's position in the next group commit, replacing the one it saved before.
    ///
    /// - Throws: `EventStoreError` — `invalidArgument` for an empty consumer name or a position above
    ///   `EventStoreValidation.maximumPosition`, `closed`, or a storage failure.
    public func saveCheckpoint(_ position: UInt64, for consumer: String) async throws {
        try EventStoreValidation.validateCheckpoint(position, for: consumer)
        try await withUnsafeThrowingContinuation { continuation in
            writer.submit(.saveCheckpoint(consumer: consumer, position: position, continuation: continuation))
        }
    }

    /// Stores a snapshot in the next group commit. A stream keeps only its latest snapshot: one with a lower stream
    /// version than the stored one is ignored.
    ///
    /// - Throws: `EventStoreError` — `invalidStreamID`, `invalidArgument` (an empty state type),
    ///   `payloadTooLarge`, `closed`, or a storage failure.
    public func saveSnapshot(_ snapshot: Snapshot) async throws {
        try EventStoreValidation.validateSnapshot(snapshot, maximumPayloadBytes: configuration.maximumPayloadBytes)
        try await withUnsafeThrowingContinuation { continuation in
            writer.submit(.saveSnapshot(snapshot, continuation: continuation))
        }
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
        try streamID.validate()
        try Self.validate(limit: limit)
        return try await readers.read { reader throws(SQLiteError) in
            try reader.readStream(streamID, from: version, direction: direction, limit: limit)
        }
    }

    /// Reads up to `limit` events of the global log after `position`; see `EventStore/readAll(after:limit:)`.
    ///
    /// - Throws: `EventStoreError` — `invalidArgument` for a negative limit, `closed`, or a storage failure.
    public func readAll(after position: UInt64, limit: Int) async throws -> [RecordedEvent] {
        try Self.validate(limit: limit)
        return try await readers.read { reader throws(SQLiteError) in
            try reader.readAll(after: position, limit: limit)
        }
    }

    /// Reads up to `limit` events of the global log after `position`, as `EventStore/readAll(after:limit:)` does,
    /// optionally without their metadata.
    ///
    /// With `includingMetadata` false every returned event's `metadata` is empty and the column is never copied
    /// out of the database: a consumer that needs only the events themselves (a replay that folds their data)
    /// saves a copy and an allocation per event. Every other property, the order and the limit are exactly those
    /// of `readAll(after:limit:)`; with `includingMetadata` true the result is the same as that method's.
    ///
    /// - Throws: `EventStoreError` — `invalidArgument` for a negative limit, `closed`, or a storage failure.
    public func readAll(after position: UInt64, limit: Int, includingMetadata: Bool) async throws -> [RecordedEvent] {
        try Self.validate(limit: limit)
        return try await readers.read { reader throws(SQLiteError) in
            try reader.readAll(after: position, limit: limit, includingMetadata: includingMetadata)
        }
    }

    /// Folds up to `limit` events of the global log after `position` into a state, lending each row to `update`
    /// instead of copying it into a `RecordedEvent`.
    ///
    /// `update` sees the rows `readAll(after:limit:)` returns, in the same order, each as an ``SQLiteEventRow`` that
    /// is valid only during that call: a consumer that folds the log (a replay, a projection rebuild) reads the
    /// columns it needs in place and saves the allocations and copies of a `RecordedEvent` per event. `update` runs
    /// on one of the store's reader threads, which it holds for the whole read: keep it to computation, never wait
    /// in it.
    ///
    /// - Parameters:
    ///   - position: the position after which to start; 0 for the start of the log.
    ///   - limit: the largest number of rows to lend; 0 returns `initialState` unread.
    ///   - initialState: the state before the first row.
    ///   - update: folds one row into the state; an error it throws ends the read.
    /// - Returns: the state after the last row.
    /// - Throws: `EventStoreError` — `invalidArgument` for a negative limit, `closed`, or a storage failure —,
    ///   `CancellationError` when the task is cancelled, or the first error `update` throws, as it was thrown.
    public func reduceAll<State: Sendable>(
        after position: UInt64,
        limit: Int,
        into initialState: State,
        _ update: @escaping @Sendable (inout State, SQLiteEventRow) throws -> Void
    ) async throws -> State {
        try Self.validate(limit: limit)
        return try await readers.reduceAll(after: position, limit: limit, into: initialState, update)
    }

    /// The position of the last event in the global log, or 0 if the store is empty.
    public func headPosition() async throws -> UInt64 {
        try await readers.read { reader throws(SQLiteError) in try reader.headPosition() }
    }

    /// The version of a stream: the number of events in it, 0 if it has none.
    ///
    /// - Throws: `EventStoreError` — `invalidStreamID`, `closed`, or a storage failure.
    public func streamVersion(of streamID: StreamID) async throws -> UInt64 {
        try streamID.validate()
        return try await readers.read { reader throws(SQLiteError) in try reader.streamVersion(of: streamID) }
    }

    /// The event stored under `eventID`, or `nil`; see `EventStore/event(withID:)`. One lookup in the unique index
    /// on event ids.
    public func event(withID eventID: MessageID) async throws -> RecordedEvent? {
        try await readers.read { reader throws(SQLiteError) in try reader.event(withID: eventID) }
    }

    /// Returns once the global log has an event after `position`; see `EventStore/waitForEvents(after:)`.
    ///
    /// Appends through this store wake waiters as soon as they commit; appends by another process on the same file
    /// are noticed within ``Configuration/externalChangePollInterval``.
    public func waitForEvents(after position: UInt64) async throws {
        if signal.head > position { return }
        maintenance.beginWaiting()
        defer { maintenance.endWaiting() }
        try await signal.wait(after: position)
    }

    /// The position a consumer saved with ``saveCheckpoint(_:for:)``, or `nil` if it never saved one.
    public func checkpoint(for consumer: String) async throws -> UInt64? {
        try Self.validateConsumer(consumer)
        return try await readers.read { reader throws(SQLiteError) in try reader.checkpoint(for: consumer) }
    }

    /// The latest snapshot of a stream, or `nil` if there is none.
    public func latestSnapshot(for streamID: StreamID) async throws -> Snapshot? {
        try streamID.validate()
        return try await readers.read { reader throws(SQLiteError) in try reader.latestSnapshot(for: streamID) }
    }

    /// Runs SQLite's `PRAGMA integrity_check` and returns the problems it reports; empty when the database is sound.
    ///
    /// It reads the whole file, so it takes time proportional to the database's size.
    public func integrityCheck() async throws -> [String] {
        try await readers.read { reader throws(SQLiteError) in try reader.integrityCheck() }
    }
}
