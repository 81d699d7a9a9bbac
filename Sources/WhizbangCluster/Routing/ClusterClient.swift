#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import CoreMetrics
import Logging
import PostgresNIO
public import ServiceLifecycle
import Synchronization
public import Whizbang
public import WhizbangPostgres

/// Sends commands to a cluster through its shared inbox and awaits their results; needs no partitions of its own.
///
/// ``send(_:to:as:messageID:timeout:)`` inserts the command into the inbox (idempotent on its message id) and
/// notifies the partition's owner in one statement: once it returns from that insert, the command will run, on
/// whichever node owns its partition then or later. It then waits for the result, which the owner writes in the same
/// transaction as the command's events. Sending a message id again never runs the command twice: it returns the
/// first command's result (for as long as the inbox keeps the row: ``ClusterConfiguration/inboxRetention``).
///
/// The client is a ServiceLifecycle `Service`: its ``run()`` listens for the owners' notifications and polls as a
/// fallback. Results can be awaited only while it runs: a send or a result wait made before it starts waits for it
/// within its own time limit (a send inserts nothing until then); one made after it ended fails at once with
/// ``ClusterError/Code/notRunning``.
public final class ClusterClient: Service, Sendable {
    /// The store whose database holds the cluster.
    public let store: PostgresEventStore
    /// The cluster's configuration.
    public let configuration: ClusterConfiguration

    let aggregates: ClusterAggregates
    let waiters = ResultWaiters()
    let running = RunningGate()
    private let repeatedSends = Atomic(0)
    private let stopping = Atomic(false)
    private let prepared = Atomic(false)
    private let preparation = Mutex<Task<Void, any Error>?>(nil)
    private let schema: String
    private let channel: String
    let inserter: InboxInserter
    private let commandDuration = CoreMetrics.Timer(label: "whizbang_cluster_command_duration")

    /// Creates a client of the cluster on `store`'s database, for the commands of `aggregates`.
    ///
    /// - Throws: ``ClusterError/Code/invalidConfiguration`` for a configuration value out of range.
    public init(
        store: PostgresEventStore, aggregates: ClusterAggregates, configuration: ClusterConfiguration = .init()
    ) throws {
        try configuration.validate()
        self.store = store
        self.aggregates = aggregates
        self.configuration = configuration
        let schema = "\"\(ClusterSchema.name(forStore: store.configuration.schema))\""
        let channel = ClusterSchema.channel(forStore: store.configuration.schema)
        self.schema = schema
        self.channel = channel
        self.inserter = InboxInserter(
            store: store, schema: schema, channel: channel, maximumBatchSize: configuration.maximumBatchSize)
    }

    /// Sends `command` for the aggregate `aggregate` in stream `streamID`, and waits for its result.
    ///
    /// - Parameters:
    ///   - command: the command, encoded as the aggregate's registered command type.
    ///   - aggregate: the aggregate type that decides it, as registered with the nodes.
    ///   - streamID: the aggregate's stream; its partition decides which node runs the command.
    ///   - messageID: the command's id; send the same id again to get the first result instead of a second run
    ///     (within ``ClusterConfiguration/inboxRetention``).
    ///   - timeout: how long to wait for the result; default ``ClusterConfiguration/resultTimeout``.
    /// - Returns: the result, also when the aggregate rejected the command (``ClusterCommandResult/Outcome``).
    /// - Throws: ``ClusterError`` — `unregisteredAggregate` (nothing sent), `conflictingMessageID` (the id was sent
    ///   with another stream or aggregate), `partitionCountMismatch` (the cluster has another partition count than
    ///   this client's configuration; nothing sent), `foreignSchema` or `damagedSchema` (the cluster's schema holds
    ///   others' objects, or its tables were changed; nothing sent or changed), `timedOut` (the command is in the
    ///   inbox and will run; or, when the time limit passed before its insert answered, it may or may not be, and
    ///   sending it again with the same id is safe; or, when it passed while the client's first send still prepared
    ///   the cluster's tables, nothing was sent),
    ///   `resultExpired` (it ran, but its row was deleted past the inbox retention before the result was read),
    ///   `malformedResult` (its stored result does not decode), `notRunning` (the client's ``run()`` did not start
    ///   before the time limit, or has ended: nothing sent; or it ended while this call waited: the command is in the
    ///   inbox); or `EventStoreError` from the insert
    ///   (an insert that fails with `unavailable` is sent again until the time limit; after that the command may or
    ///   may not be in the inbox, and sending it again with the same id is safe).
    public func send<A: Aggregate>(
        _ command: A.Command, to streamID: StreamID, as aggregate: A.Type, messageID: MessageID = MessageID(),
        timeout: Duration? = nil
    ) async throws -> ClusterCommandResult {
        let start = ContinuousClock.now
        let deadline = start + (timeout ?? configuration.resultTimeout).asTimeLimit
        // Before the insert: a caller told "not running" must be able to send again without a second run.
        guard await running.wait(until: deadline) else { throw Self.notRunning(sent: false) }
        var attempt = 0
        var ticket: Ticket
        // The insert is idempotent on the message id, so an insert whose outcome is unknown is simply sent again.
        while true {
            do {
                ticket = try await enqueue(command, to: streamID, as: aggregate, messageID: messageID, until: deadline)
                break
            } catch let error as EventStoreError where error.code == .unavailable && ContinuousClock.now < deadline {
                attempt += 1
                configuration.logger.debug(
                    "sending a command failed; sending it again", metadata: ["messageID": "\(messageID)", "error": "\(error)"])
                try await Task.sleep(for: min(.milliseconds(20) * (1 << min(attempt, 6)), deadline - .now))
            }
        }
        let result: ClusterCommandResult
        if let known = ticket.result {
            result = known
        } else {
            // Just inserted: it has almost never run yet, so its row is looked up when a notification names it.
            result = try await self.result(of: ticket, until: deadline, lookUpAtOnce: false)
        }
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        commandDuration.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        return result
    }

    /// The id of a command a job (a process manager) sends in reaction to an event: derived from the job's name,
    /// the event's id and the step, so that the job sends the same id when the event is delivered again (after a
    /// failover) and the inbox runs the command once.
    ///
    /// - Parameters:
    ///   - job: the job's name (the projection's `name`).
    ///   - event: the id of the event the command reacts to (`RecordedEvent.eventID`).
    ///   - step: what tells apart the commands one event leads to, such as `"debit"`.
    public static func commandID(job: String, event: MessageID, step: String) -> MessageID {
        MessageID(derivedFrom: event, step: "\(job)/\(step)")
    }

    /// How many sends found their message id already in the inbox (and so ran nothing): for a process manager,
    /// its redeliveries.
    public var repeatedSendCount: Int { repeatedSends.load(ordering: .relaxed) }

    /// A command in the inbox: its row, and its result if it had one when sent.
    public struct Ticket: Sendable, Hashable {
        /// The command's message id.
        public var messageID: MessageID
        /// The inbox row.
        public var row: Int64
        /// The result, when the message id had been sent before and has run.
        public var result: ClusterCommandResult?
    }

    /// Inserts `command` into the inbox and notifies its partition's owner, without waiting for the result.
    ///
    /// - Throws: as ``send(_:to:as:messageID:timeout:)``, without `timedOut` and `notRunning` (an enqueue needs no
    ///   running client).
    public func enqueue<A: Aggregate>(
        _ command: A.Command, to streamID: StreamID, as aggregate: A.Type, messageID: MessageID = MessageID()
    ) async throws -> Ticket {
        try await enqueue(command, to: streamID, as: aggregate, messageID: messageID, until: nil)
    }

    /// ``enqueue(_:to:as:messageID:)``, whose insert's wait ends at `deadline` with ``ClusterError/Code/timedOut``
    /// (the command may or may not be in the inbox then), whatever holds the insert.
    private func enqueue<A: Aggregate>(
        _ command: A.Command, to streamID: StreamID, as aggregate: A.Type, messageID: MessageID,
        until deadline: ContinuousClock.Instant?
    ) async throws -> Ticket {
        guard let name = aggregates.name(of: aggregate), let registered = aggregates[name] else {
            throw ClusterError(
                .unregisteredAggregate, message: "\(A.self) is not registered with the cluster; nothing was sent")
        }
        guard let payload = try registered.encode(command) else {
            throw ClusterError(.malformedCommand, message: "the command is not a \(name) command")
        }
        return try await enqueue(
            payload: payload, to: streamID, aggregateType: name, messageID: messageID, until: deadline)
    }

    /// Inserts an encoded command, for a type known by name; what ``enqueue(_:to:as:messageID:)`` does after
    /// encoding. Meant for tools and tests that send raw commands.
    public func enqueue(payload: Data, to streamID: StreamID, aggregateType: String, messageID: MessageID) async throws
        -> Ticket
    {
        try await enqueue(payload: payload, to: streamID, aggregateType: aggregateType, messageID: messageID, until: nil)
    }

    private func enqueue(
        payload: Data, to streamID: StreamID, aggregateType: String, messageID: MessageID,
        until deadline: ContinuousClock.Instant?
    ) async throws -> Ticket {
        try streamID.validate()
        // PostgreSQL's text holds no NUL: such a name would fail the insert of every command sent beside it.
        guard !aggregateType.isEmpty, !aggregateType.utf8.contains(0) else {
            throw ClusterError(
                .malformedCommand,
                message: "an aggregate type's name must be non-empty and hold no NUL character; nothing was sent")
        }
        try await prepareOnce(until: deadline)
        let partition = Int32(StableHash.partition(of: streamID, count: configuration.partitionCount))
        let schema = self.schema
        let uuid = messageID.uuid
        let stream = streamID.rawValue
        var existing: (Int64, String, String, ByteBuffer?)? = nil
        // A row found by the insert's conflict can be deleted (past the inbox retention) before it is read: then the
        // message id is new again, and a second insert takes it.
        for _ in 0..<2 {
            let inserted = try await inserter.insert(
                InboxInserter.Request(
                    messageID: messageID, partition: partition, streamID: stream, aggregateType: aggregateType,
                    payload: payload),
                until: deadline)
            if let inserted { return Ticket(messageID: messageID, row: inserted, result: nil) }
            existing = try await lookUp(
                until: deadline,
                timedOut: "command \(messageID) was sent before, and its row was not read within the time limit"
            ) { connection, logger -> (Int64, String, String, ByteBuffer?)? in
                var existing: (Int64, String, String, ByteBuffer?)? = nil
                for row in try await connection.rows(
                    """
                    SELECT id, stream_id, aggregate_type, outcome FROM \(unescaped: schema).inbox
                    WHERE message_id = \(uuid)
                    """, decoding: (Int64, String, String, ByteBuffer?).self, logger: logger
                ) {
                    existing = row
                }
                return existing
            }
            if existing != nil { break }
        }
        guard let (row, storedStream, storedType, outcome) = existing else {
            throw ClusterError(.commandFailed, message: "command \(messageID) was neither inserted nor found")
        }
        guard storedStream == stream, storedType == aggregateType else {
            throw ClusterError(
                .conflictingMessageID,
                message: "message id \(messageID) was sent before to \(storedType) '\(storedStream)', not to "
                    + "\(aggregateType) '\(stream)'; nothing was sent")
        }
        repeatedSends.add(1, ordering: .relaxed)
        return Ticket(messageID: messageID, row: row, result: try outcome.map { try Self.decode($0) })
    }

    /// Creates the cluster's tables if no node has yet, and checks that the cluster has the partition count this
    /// client computes partitions with; once per client, however many sends arrive at once (they share one
    /// preparation, and a failed one is tried again by the next send).
    ///
    /// With `deadline`, the wait ends then with ``ClusterError/Code/timedOut`` (nothing was sent); the preparation
    /// goes on for the next send, bounded by the store's own deadlines.
    private func prepareOnce(until deadline: ContinuousClock.Instant? = nil) async throws {
        guard !prepared.load(ordering: .acquiring) else { return }
        let (store, configuration) = (self.store, self.configuration)
        let task = preparation.withLock { current -> Task<Void, any Error> in
            if let current { return current }
            let task = Task {
                _ = try await ClusterSchema.prepare(
                    store, partitionCount: configuration.partitionCount, logger: configuration.logger)
            }
            current = task
            return task
        }
        let outcome = await SharedTaskWait.wait(for: task, until: deadline)
        guard case .finished(let result) = outcome else {
            // Should it fail later, the next send starts a new one instead of getting this one's old error.
            Task {
                guard case .failure = await task.result else { return }
                preparation.withLock { current in
                    if current == task { current = nil }
                }
            }
            if case .cancelled = outcome { throw CancellationError() }
            throw ClusterError(
                .timedOut,
                message: "the cluster's tables were not ready within the time limit (another session holds them, "
                    + "or the database is slow); nothing was sent")
        }
        do {
            try result.get()
            prepared.store(true, ordering: .releasing)
        } catch {
            preparation.withLock { current in
                if current == task { current = nil }
            }
            throw error
        }
    }

    /// Runs a look-up of the inbox, ending it at `deadline` (if any) with ``ClusterError/Code/timedOut`` and
    /// `message`, whatever holds it: the store's own request timeout may be far longer than the caller's limit.
    private func lookUp<Found: Sendable>(
        until deadline: ContinuousClock.Instant?, timedOut message: @autoclosure () -> String,
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> Found
    ) async throws -> Found {
        let store = self.store
        guard let deadline else { return try await store.withTrustedConnection(body) }
        // A cancelled look-up returns at once (the store closes its connection), so the group does not wait for it.
        let raced = try await withThrowingTaskGroup(of: LookUpRace<Found>.self) { group in
            group.addTask { .found(try await store.withTrustedConnection(body)) }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return .timedOut
            }
            defer { group.cancelAll() }
            return try await group.next() ?? .timedOut
        }
        guard case .found(let found) = raced else { throw ClusterError(.timedOut, message: message()) }
        return found
    }

    /// Waits for the result of a command sent with ``enqueue(_:to:as:messageID:)``; its row is looked up at once, so
    /// a result recorded before the call returns without waiting for a notification.
    ///
    /// - Throws: ``ClusterError`` — `timedOut` (the command will still run), `resultExpired` (it ran, but its row was
    ///   deleted past the inbox retention before the result was read), `malformedResult` (its stored result does not
    ///   decode) or `notRunning` (the client's ``run()`` did not start within the time limit, or has ended).
    public func result(of ticket: Ticket, timeout: Duration? = nil) async throws -> ClusterCommandResult {
        if let result = ticket.result { return result }
        return try await result(
            of: ticket, until: .now + (timeout ?? configuration.resultTimeout).asTimeLimit, lookUpAtOnce: true)
    }

    /// Waits for the result of a command that someone else sends, such as the last step of a process manager,
    /// whose id the caller can derive (``commandID(job:event:step:)``); the command need not be in the inbox yet.
    ///
    /// - Throws: ``ClusterError`` — `timedOut` (no result within `timeout`, default
    ///   ``ClusterConfiguration/resultTimeout``; the command may not even have been sent; a limit shorter than one
    ///   look-up in the database, such as `.zero`, ends before the inbox is read), `resultExpired`,
    ///   `malformedResult` (its stored result does not decode) or `notRunning`; or `EventStoreError` from a look-up
    ///   (one that fails with `unavailable` is tried again until the time limit, and its error is thrown only when
    ///   the limit has passed).
    public func result(of messageID: MessageID, timeout: Duration? = nil) async throws -> ClusterCommandResult {
        let deadline = ContinuousClock.now + (timeout ?? configuration.resultTimeout).asTimeLimit
        let (schema, uuid) = (self.schema, messageID.uuid)
        var pause = Duration.milliseconds(5)
        var failure: EventStoreError?
        while true {
            let found: (Int64, ByteBuffer?)?
            do {
                found = try await lookUp(
                    until: deadline,
                    timedOut: "the inbox look-up for command \(messageID) did not finish within the time limit"
                ) { connection, logger -> (Int64, ByteBuffer?)? in
                    var found: (Int64, ByteBuffer?)? = nil
                    for row in try await connection.rows(
                        "SELECT id, outcome FROM \(unescaped: schema).inbox WHERE message_id = \(uuid)",
                        decoding: (Int64, ByteBuffer?).self, logger: logger
                    ) {
                        found = row
                    }
                    return found
                }
                failure = nil
            } catch let error as EventStoreError where error.code == .unavailable && ContinuousClock.now < deadline {
                // As a send's insert: a look-up that lost its connection, or found the server unavailable, is tried
                // again until the time limit.
                configuration.logger.debug(
                    "looking up a command's result failed; looking again",
                    metadata: ["messageID": "\(messageID)", "error": "\(error)"])
                found = nil
                failure = error
            }
            if let (row, outcome) = found {
                if let outcome { return try Self.decode(outcome) }
                return try await result(
                    of: Ticket(messageID: messageID, row: row, result: nil), until: deadline, lookUpAtOnce: true)
            }
            let now = ContinuousClock.now
            guard now < deadline else {
                if let failure { throw failure }
                throw ClusterError(
                    .timedOut, message: "command \(messageID) was not in the inbox within the time limit")
            }
            try await Task.sleep(for: min(pause, deadline - now))
            pause = min(pause * 2, configuration.pollInterval)
        }
    }

    private func result(of ticket: Ticket, until deadline: ContinuousClock.Instant, lookUpAtOnce: Bool) async throws
        -> ClusterCommandResult
    {
        guard await running.wait(until: deadline) else { throw Self.notRunning(sent: true) }
        return try await waiters.wait(
            for: ticket.row, messageID: ticket.messageID, until: deadline, lookUpAtOnce: lookUpAtOnce)
    }

    /// Listens for the owners' notifications and looks up awaited results, until graceful shutdown or
    /// cancellation; then fails the waits still open with ``ClusterError/Code/notRunning``.
    ///
    /// - Throws: the store's `EventStoreError` when the store does not start within its limit (at least a minute)
    ///   or has ended; ``ClusterError/Code/notRunning`` when the store closes while the client runs. Before, both
    ///   ended the run as a stop would, without a word, and every later send failed with `notRunning`.
    public func run() async throws {
        waiters.reopen()
        stopping.store(false, ordering: .releasing)
        running.open()
        defer {
            running.close()
            waiters.close(with: ClusterError(.notRunning, message: "the cluster client stopped"))
        }
        do {
            // A stop that comes meanwhile (graceful shutdown, cancellation) ends the wait, and the run, as before.
            try await cancelWhenGracefulShutdown { try await self.store.waitUntilReady() }
        } catch is CancellationError {
            return
        }
        let waiters = self.waiters
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.store.listen(on: self.channel) { payload in
                    guard let payload else { return waiters.recorded(nil) }
                    guard payload.hasPrefix("d") else { return }
                    waiters.recorded(Self.rows(inResultsNotification: payload))
                }
            }
            group.addTask { await self.poll() }
            group.addTask { await self.failWaitsAtTheirDeadlines() }
            await withTaskCancellationHandler {
                await withGracefulShutdownHandler {
                    await group.next()
                } onGracefulShutdown: {
                    self.stop()
                }
            } onCancel: {
                self.stop()
            }
            group.cancelAll()
        }
        // Only the listener ends without a stop: the store closed under the client. The sends still waiting are told
        // why, in the store's words (a closed store answers with the error it closed with).
        guard stopping.load(ordering: .acquiring) || Task.isCancelled else {
            var reason = ""
            do {
                try await store.waitUntilReady()
            } catch let error as EventStoreError {
                reason = ": \(error.message)"
            }
            let stopped = ClusterError(
                .notRunning,
                message: "the cluster client stopped: its event store closed while the client ran\(reason)")
            waiters.close(with: stopped)
            throw stopped
        }
    }

    private static func notRunning(sent: Bool) -> ClusterError {
        ClusterError(
            .notRunning,
            message: "the cluster client is not running: start its run() first; "
                + (sent ? "the command is in the inbox" : "nothing was sent"))
    }

    private func stop() {
        stopping.store(true, ordering: .releasing)
        waiters.added.signal()
        waiters.deadlineMoved.signal()
    }

    /// The rows a results notification names (`d` and comma-separated ids), or `nil` when it names none (look up
    /// every awaited row).
    static func rows(inResultsNotification payload: String) -> [Int64]? {
        let list = payload.utf8.dropFirst()
        guard !list.isEmpty else { return nil }
        var rows: [Int64] = []
        for part in list.split(separator: UInt8(ascii: ",")) {
            guard let row = Int64(Substring(part)) else { return nil }
            rows.append(row)
        }
        return rows
    }

    /// Looks up results whenever woken — those of the rows a notification named — and those of every awaited row at
    /// least every poll interval, in case a notification was lost.
    private func poll() async {
        let logger = configuration.logger
        var lastFullLookUp = ContinuousClock.now
        // Failed look-ups in a row, and when the last one failed: a failure a poll interval after the last counts
        // as the first again, so an old outage does not lengthen the next pause.
        var failures = 0
        var lastFailure = ContinuousClock.now
        while !Task.isCancelled && !stopping.load(ordering: .acquiring) {
            let now = ContinuousClock.now
            let everything = now - lastFullLookUp >= configuration.pollInterval
            if everything { lastFullLookUp = now }
            let rows = waiters.takeRowsToLookUp(everything: everything)
            if !rows.isEmpty {
                do {
                    let (results, missing) = try await fetchResults(rows)
                    waiters.deliver(results)
                    if !missing.isEmpty { waiters.expired(missing) }
                    failures = 0
                    // For the words of a wait that times out: whether any node runs.
                    if everything, let owned = try? await partitionsOwned() { waiters.noteOwned(owned) }
                } catch {
                    logger.debug("looking up command results failed", metadata: ["error": "\(error)"])
                    // The notification that named these rows is spent: look them up again after a pause that
                    // doubles with each failure (at most the poll interval), not only at the next full look-up.
                    waiters.lookUpAgain(rows)
                    failures = now - lastFailure > configuration.pollInterval ? 1 : failures + 1
                    lastFailure = now
                    let pause = min(configuration.pollInterval, Self.lookUpRetryDelay * (1 << min(failures - 1, 10)))
                    await waiters.added.wait(upTo: pause)
                    continue
                }
            }
            let untilFullLookUp = lastFullLookUp + configuration.pollInterval - .now
            if untilFullLookUp > .zero { await waiters.added.wait(upTo: untilFullLookUp) }
        }
    }

    /// The pause before a failed look-up of results is tried again; it doubles with each failure in a row.
    static let lookUpRetryDelay = Duration.milliseconds(50)

    /// Fails each wait with ``ClusterError/Code/timedOut`` at its deadline: a task of its own, so that a look-up the
    /// database is slow to answer cannot hold a wait past its time limit.
    private func failWaitsAtTheirDeadlines() async {
        while !Task.isCancelled && !stopping.load(ordering: .acquiring) {
            waiters.expire()
            let wakeAt = waiters.earliestDeadline ?? .now + configuration.pollInterval
            let untilWake = wakeAt - .now
            if untilWake > .zero { await waiters.deadlineMoved.wait(upTo: untilWake) }
        }
    }

    /// The results of those of `rows` that have one, and the rows that no longer exist (deleted past the inbox
    /// retention). A result that does not decode is a ``ClusterError/Code/malformedResult`` for its row alone.
    func fetchResults(_ rows: [Int64]) async throws
        -> ([Int64: Result<ClusterCommandResult, ClusterError>], missing: Set<Int64>)
    {
        let schema = self.schema
        let found = try await store.withTrustedConnection { connection, logger in
            var found: [(Int64, ByteBuffer?)] = []
            for row in try await connection.rows(
                "SELECT id, CASE WHEN status <> 0 THEN outcome END FROM \(unescaped: schema).inbox WHERE id = ANY(\(rows))",
                logger: logger)
            {
                found.append(try row.decode((Int64, ByteBuffer?).self))
            }
            return found
        }
        var results: [Int64: Result<ClusterCommandResult, ClusterError>] = [:]
        var missing = Set(rows)
        for (row, outcome) in found {
            missing.remove(row)
            if let outcome { results[row] = Result { () throws(ClusterError) in try Self.decode(outcome) } }
        }
        return (results, missing)
    }

    /// Whether any partition has an owner whose lease has not run out: whether a node runs.
    func partitionsOwned() async throws -> Bool {
        let schema = self.schema
        return try await store.withTrustedConnection { connection, logger in
            try await connection.rows(
                """
                SELECT EXISTS (SELECT 1 FROM \(unescaped: schema).partitions
                    WHERE owner IS NOT NULL AND lease_until > now())
                """, decoding: Bool.self, logger: logger
            ).first ?? false
        }
    }

    /// A stored result, in either form (``ClusterCommandResult/init(stored:)``).
    static func decode(_ outcome: ByteBuffer) throws(ClusterError) -> ClusterCommandResult {
        try ClusterCommandResult(stored: outcome)
    }
}

/// The first to end of a look-up and its deadline.
private enum LookUpRace<Found: Sendable>: Sendable {
    case found(Found)
    case timedOut
}
