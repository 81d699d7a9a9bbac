import Logging
import PostgresNIO
public import ServiceLifecycle
import Synchronization
import Whizbang

extension PostgresEventStore: Service {
    /// Runs the store: connects, creates or migrates the schema, then commits appends and listens for other
    /// processes' appends until the store closes.
    ///
    /// Calls made before the schema is ready wait for it. Graceful shutdown, cancellation of the calling task or
    /// ``close()`` close the store and make this method return, also while it is still starting (the migration's
    /// connection is closed, which ends its wait); after ``close()`` it returns at once. Run the store in a
    /// `ServiceGroup` after the services that use it, so that they stop first (a service group shuts down in reverse
    /// order).
    ///
    /// Starting waits for the migration lock while another process migrates, restores or drops the schema: each
    /// wait for a lock and each statement of the migration takes at most ``Configuration/requestTimeout``. Past
    /// that, the start fails with `unavailable`, as when the server cannot be reached; a store starts once, so make
    /// a new one to retry.
    /// Before it migrates, the store takes the schema's use lock on its listening connection, which makes
    /// ``dropStoreTables(configuration:)``, ``dropSchema(configuration:)`` and a replacing restore refuse while it
    /// starts and runs; a drop or a restore that holds it longer than ``Configuration/requestTimeout`` fails the
    /// start with `unavailable` too. (While the listener connects again after losing its connection, the store does
    /// not hold the lock; its appends are fenced by the tables it opened, and it closes itself when the listener
    /// finds other tables.)
    ///
    /// - Throws: `EventStoreError` when the store cannot start — `incompatibleSchema` (a newer schema, or a schema
    ///   holding other tables), `invalidArgument` when called a second time or when another store holds the writer
    ///   lock (``Configuration/holdsWriterLock``), `unavailable` when the server cannot be reached or the migration
    ///   waited longer than ``Configuration/requestTimeout``, or the server's refusal (connection, authentication,
    ///   permissions) as `storageFailure` or `readOnly`. Every waiting and later call then fails with the same
    ///   error, except that one this method throws as `unavailable` reaches the calls as `closed` ("the event store
    ///   failed to start: " and its message): the store will not try again, and `unavailable` says that a call may
    ///   succeed when tried again. Once started, `closed` when the store closed itself because another store took the
    ///   writer lock while its listener connected again (``Configuration/holdsWriterLock``), or when its listener
    ///   found the store's tables dropped or replaced.
    public func run() async throws {
        guard lifecycle.beginRunning() else {
            throw EventStoreError(.invalidArgument, message: "run() of a PostgresEventStore was called twice")
        }
        // Closed before it ran (a task that closes the store may well beat the one that runs it): nothing to do.
        guard !lifecycle.isClosed else { return }
        // The pool runs in a task of its own, and shuts down last: the writer and the listener stop first, then the
        // calls still using the pool finish (for at most `connectTimeout`), and only then is the pool cancelled. A
        // pool cancelled while it creates or retries a connection can keep retrying instead of finishing (upstream:
        // vapor/postgres-nio#599), so each of these waits is bounded: `run()` returns even then, leaving that task
        // behind with a warning, rather than never returning.
        let pool = Task { await self.client.run() }
        // One timer for the deadlines of every request; it stops after the pool, failing what is still in flight.
        let deadlines = Task { await self.runner.deadlines.run() }
        let listening: PostgresConnection
        do {
            listening = try await withTaskCancellationHandler {
                try await prepare()
            } onCancel: {
                self.close()
            }
        } catch {
            // Closed while it started (close(), graceful shutdown or cancellation, which close the connection the
            // start waits on): the start was given up, it did not fail.
            let closed = lifecycle.isClosed
            let failure =
                (error as? PostgresWriterLock.Held).map { EventStoreError(.invalidArgument, message: $0.message) }
                ?? EventStoreError.from(error, closed: closed, server: configuration.serverDescription)
            if !closed {
                configuration.logger.debug("PostgreSQL event store failed to start", metadata: ["error": "\(failure)"])
                // The store will not try again: calls get a final error, not the retryable `unavailable`.
                finish(
                    with: failure.code == .unavailable
                        ? EventStoreError(.closed, message: "the event store failed to start: \(failure.message)")
                        : failure)
            }
            await stop(pool, what: "connection pool", upTo: configuration.connectTimeout)
            await stop(deadlines, what: "deadline timer", upTo: .seconds(1))
            if closed { return }
            throw failure
        }
        let writer = Task { await self.writer.run() }
        let listener = Task { await self.listen(first: listening) }
        let follower = readModels.isEmpty || configuration.isReadOnly ? nil : Task { await self.readModels.follow(self) }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await lifecycle.waitUntilFinished()
            } onGracefulShutdown: {
                self.close()
            }
        } onCancel: {
            self.close()
        }
        // The listener holds no work of its own; cancelled, it closes its connection (and so lets the schema's use
        // lock go), which ends whatever it waits for. On a loaded machine that takes more than a second (CI runs saw
        // it); it is bounded as the other parts are.
        await stop(listener, what: "listener", upTo: configuration.connectTimeout)
        if let follower { await stop(follower, what: "read model follower", upTo: configuration.connectTimeout) }
        await stop(writer, what: "writer", upTo: configuration.connectTimeout)
        await lifecycle.waitForOperations(upTo: configuration.connectTimeout)
        await stop(pool, what: "connection pool", upTo: configuration.connectTimeout)
        await stop(deadlines, what: "deadline timer", upTo: .seconds(1))
        if let closed = closedItself.withLock({ $0 }) { throw closed }
    }

    /// Cancels `task` and waits for it, for at most `limit`.
    private func stop(_ task: Task<Void, Never>, what: String, upTo limit: Duration) async {
        task.cancel()
        guard await BoundedWait.finish(task, upTo: limit) else {
            configuration.logger.warning(
                "PostgreSQL event store: the \(what) did not stop within \(limit); leaving it running",
                metadata: ["schema": "\(configuration.schema)"])
            return
        }
    }

    /// Opens the listening connection with the schema's use lock (``openListeningConnection(id:)``), migrates the
    /// schema (or, for a read-only store, checks it) on a connection of its own (which, unlike the pool, fails at
    /// once when the server refuses it), reads the head and opens the store to calls; returns the listening
    /// connection.
    ///
    /// Each wait for a lock on that connection (the migration lock, which another process holds while it migrates,
    /// restores or drops the schema) and each statement takes at most ``Configuration/requestTimeout`` (the server's
    /// limit; the client's, a second longer, ends the wait on a server that stops answering); closing the store ends
    /// the wait at once and closes the connection (whose transaction the server then rolls back).
    private func prepare() async throws -> PostgresConnection {
        let logger = configuration.logger
        let connection = try await PostgresConnection.connect(
            configuration: configuration.connectionConfiguration(boundedBy: configuration.requestTimeout),
            id: 0,
            logger: logger
        )
        // The store says it runs on the schema before it migrates: from then on, no drop or replacement of the
        // store's tables goes ahead under it, not even between its migration and its opening to calls.
        let listening: PostgresConnection
        do {
            listening = try await openListeningConnection(id: 1_999_999)
        } catch {
            try? await connection.close()
            throw error
        }
        do {
            let configuration = configuration
            let readModels = readModels
            try await lifecycle.untilFinished(onFinish: { let _: EventLoopFuture<Void> = connection.close() }) {
                try await StatementLimit.withLimit(
                    configuration.requestTimeout, server: configuration.serverDescription, on: connection
                ) {
                    if configuration.isReadOnly {
                        try await PostgresSchema.checkReadable(connection, schema: configuration.schema, logger: logger)
                    } else {
                        try await PostgresSchema.migrate(connection, schema: configuration.schema, logger: logger)
                        try await readModels.register(on: connection)
                    }
                    self.tables.open(try await StoreTables.read(configuration.schema, on: connection, logger: logger))
                }
            }
            try? await connection.close()
        } catch {
            try? await connection.close()
            try? await listening.close()
            throw error
        }
        let head: UInt64
        do {
            head = try RecordedEventColumns.stored(
                try await runner.rows(of: PostgresStatements.Head()).first ?? 0, "log's head")
        } catch {
            try? await listening.close()
            throw error
        }
        signal.advance(to: head)
        lifecycle.markReady()
        logger.debug(
            "opened PostgreSQL event store",
            metadata: ["schema": "\(configuration.schema)", "head": "\(head)", "server": "\(configuration)"])
        return listening
    }

    /// Opens a connection for the listener, outside the pool, and takes on it the schema's use lock
    /// (`PostgresSchema.useLockClass`) in shared mode, which says that a store runs on the schema for as long as the
    /// connection lasts: ``dropStoreTables(configuration:)`` and a replacing restore refuse meanwhile.
    ///
    /// While a drop or a restore holds the lock exclusively, the lock is tried again every 50 milliseconds, for at
    /// most ``Configuration/requestTimeout`` (a try never queues a backend behind that holder, where a backend
    /// abandoned by a client that gave up would wait on); then this fails with `unavailable`. With
    /// ``Configuration/holdsWriterLock`` it then takes the writer lock (`PostgresWriterLock`).
    private func openListeningConnection(id: Int) async throws -> PostgresConnection {
        let logger = configuration.logger
        let connection = try await PostgresConnection.connect(
            configuration: configuration.connectionConfiguration(), id: id, logger: logger)
        do {
            let deadline = ContinuousClock.now + configuration.requestTimeout.asTimeLimit
            // Cancelled (the store closes), the connection is closed, which ends a statement in flight.
            let configuration = configuration
            try await withTaskCancellationHandler {
                try await takeUseLock(on: connection, until: deadline)
                if configuration.holdsWriterLock {
                    try await PostgresWriterLock.take(on: connection, configuration: configuration, own: writerSessions)
                }
            } onCancel: {
                let _: EventLoopFuture<Void> = connection.close()
            }
            return connection
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Takes the schema's use lock in shared mode on `connection`, trying every 50 milliseconds until `deadline`.
    private func takeUseLock(on connection: PostgresConnection, until deadline: ContinuousClock.Instant) async throws {
        let logger = configuration.logger
        try await StatementLimit.withLimit(
            configuration.requestTimeout, server: configuration.serverDescription, on: connection
        ) {
            guard
                try await PostgresSchema.tryUseLock(
                    "pg_try_advisory_lock_shared", schema: configuration.schema, until: deadline, on: connection,
                    logger: logger)
            else {
                throw EventStoreError(
                    .unavailable,
                    message: "schema '\(configuration.schema)' is being dropped or replaced (its use lock was held "
                        + "for longer than \(configuration.requestTimeout))")
            }
        }
    }

    /// Every `interval`, reads the head on the listening connection, which must answer within
    /// ``Configuration/requestTimeout``; one that does not is closed, and the listener connects again. A connection
    /// can go silent without closing (a network path that drops packets after a failover or a host crash): the
    /// listener would wait on it for ever, and nobody here would learn of other processes' appends. The read also
    /// makes up for a lost notification.
    private func checkListener(_ connection: PostgresConnection, every interval: Duration, logger: Logger)
        async throws
    {
        let limit = configuration.requestTimeout
        while true {
            try await Task.sleep(for: interval)
            let watchdog = Task {
                try await Task.sleep(for: limit)
                logger.warning(
                    "the connection listening for appends did not answer; connecting again",
                    metadata: ["server": "\(configuration.serverDescription)", "limit": "\(limit)"])
                let _: EventLoopFuture<Void> = connection.close()
            }
            defer { watchdog.cancel() }
            _ = try await settleHead(on: connection, logger: logger)
        }
    }

    /// Reads the log's head on `connection` and makes it the store's: past the store's head it wakes waiters; below
    /// it, the log lost positions the store had announced (commits a server crash lost under `.normal`
    /// durability, which acknowledges before the flush), and the head moves back unless an append committed
    /// meanwhile. Otherwise every consumer caught up with the log would find its wait over at once, read nothing, and
    /// go round again without pause until appends passed the lost positions.
    ///
    /// - Returns: the head read.
    private func settleHead(on connection: PostgresConnection, logger: Logger) async throws -> UInt64 {
        let announced = signal.head
        let read = try await readHead(on: connection, logger: logger)
        if read < announced, signal.lower(from: announced, to: read) {
            logger.warning(
                "the log ends before the head this store announced: commits it acknowledged were lost",
                metadata: [
                    "announced": "\(announced)", "head": "\(read)", "server": "\(configuration.serverDescription)",
                ])
            // An append that committed while the head was read advanced nothing (the head stood above it): read
            // again, so that its waiters are not left until the next append.
            let again = try await readHead(on: connection, logger: logger)
            signal.advance(to: again)
            return again
        } else {
            signal.advance(to: read)
        }
        return read
    }

    /// The position of the log's last event, read on `connection`.
    private func readHead(on connection: PostgresConnection, logger: Logger) async throws -> UInt64 {
        UInt64(clamping: try await connection.rows(of: PostgresStatements.Head(), logger: logger).first ?? 0)
    }

    /// Holds a connection that listens on the store's channel and advances the head to each notified position the
    /// log is known to reach (``NotifiedHead``); connects again after a failure, until cancelled.
    ///
    /// The connection is its own, outside the pool: the pool could lend a connection that no longer answers
    /// without a deadline on the lease, and this one is held for as long as the store runs. Every
    /// ``Configuration/keepAliveInterval`` it must answer a read of the head (``checkListener(_:every:logger:)``).
    /// Each connection holds the schema's use lock in shared mode (``openListeningConnection(id:)``); the first is
    /// `first`, opened while the store started. Between a lost connection and the next one the store does not hold
    /// the lock: a drop or a replacing restore in that gap goes ahead under it. The fence of the store's appends
    /// (``StoreTables``) keeps them out of tables made again meanwhile; each later connection compares the tables with
    /// the ones the store opened, and when they differ the store closes itself.
    private func listen(first: PostgresConnection) async {
        let logger = configuration.logger
        let channel = configuration.notificationChannel
        let listenerIDs = Atomic<Int>(2_000_000)
        var next: PostgresConnection? = first
        defer { if let next { let _: EventLoopFuture<Void> = next.close() } }
        while !Task.isCancelled && !lifecycle.isClosed {
            do {
                let connection: PostgresConnection
                if let opened = next {
                    connection = opened
                    next = nil
                } else {
                    connection = try await openListeningConnection(id: listenerIDs.add(1, ordering: .relaxed).newValue)
                    // Without the lock, the store's tables could have been dropped or replaced: it closes then.
                    let found: Int64
                    do {
                        found = try await StatementLimit.withLimit(
                            configuration.requestTimeout, server: configuration.serverDescription, on: connection
                        ) {
                            try await StoreTables.read(configuration.schema, on: connection, logger: logger)
                        }
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                    if found != tables.current {
                        try? await connection.close()
                        throw StoreTables.Replaced()
                    }
                }
                do {
                    try await withTaskCancellationHandler {
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                try await connection.listen(on: channel) { notifications in
                                    // Appends committed before LISTEN took effect sent no notification: read
                                    // the head.
                                    var read = try await self.settleHead(on: connection, logger: logger)
                                    // Waiters are woken only up to a head known to be real (see NotifiedHead):
                                    // the one last read, or this process's own appends' (which the signal has).
                                    for try await notification in notifications {
                                        guard let position = UInt64(notification.payload) else { continue }
                                        read = max(read, self.signal.head)
                                        if position > read, self.notifiedHead.notified(position) {
                                            read = max(read, try await self.readHead(on: connection, logger: logger))
                                        }
                                        self.signal.advance(to: min(position, read))
                                    }
                                }
                            }
                            if let interval = configuration.keepAliveInterval {
                                group.addTask {
                                    try await self.checkListener(connection, every: interval, logger: logger)
                                }
                            }
                            // Whichever ends first (a failed check closed the connection) ends the other.
                            defer { group.cancelAll() }
                            try await group.next()
                        }
                    } onCancel: {
                        // Closing the connection ends whatever the listener awaits (LISTEN's confirmation
                        // included).
                        let _: EventLoopFuture<Void> = connection.close()
                    }
                } catch {
                    // Closed and awaited before it goes: PostgresNIO traps on a connection released unclosed.
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch is StoreTables.Replaced {
                let closed = StoreTables.replaced(configuration.schema)
                logger.warning(
                    "PostgreSQL event store closed: its tables were dropped or replaced while the listener reconnected",
                    metadata: ["schema": "\(configuration.schema)"])
                if finish(with: closed) { closedItself.withLock { $0 = closed } }
                return
            } catch let error as PostgresWriterLock.Held {
                // Another writer started while the listener was away: this store stops writing.
                logger.warning(
                    "PostgreSQL event store closed: another store took the writer lock while the listener reconnected",
                    metadata: ["schema": "\(configuration.schema)"])
                let closed = EventStoreError(.closed, message: "the event store was closed: \(error.message)")
                // Only when this ends the store: a store closed by its user meanwhile closed normally.
                if finish(with: closed) { closedItself.withLock { $0 = closed } }
                return
            } catch {
                if Task.isCancelled || lifecycle.isClosed { return }
                // Mapped here, not in the log line's metadata, which is built only when debug lines are logged: the
                // mapping records the outage, which is then logged once as a warning, as for a failed call.
                let failure = runner.failure(error, closed: false)
                logger.debug("listening for appends failed; connecting again", metadata: ["error": "\(failure)"])
            }
            try? await Task.sleep(for: configuration.listenerReconnectDelay)
        }
    }
}
