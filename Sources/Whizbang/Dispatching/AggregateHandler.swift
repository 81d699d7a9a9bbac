#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Logging
import Metrics

/// Sends commands to the aggregates of one type: load, decide and append, on each stream's serial lane.
///
/// Obtained from ``Dispatcher/aggregate(_:configuration:)``. Commands sent to one stream run one at a time in the
/// order they were sent (the order their `send` calls reached the dispatcher), so each decides on the state its
/// predecessors left; commands to different streams run concurrently.
public struct AggregateHandler<A: Aggregate, Store: EventStore>: Sendable {
    /// The dispatcher the handler sends through.
    public let dispatcher: Dispatcher<Store>
    /// The repository that loads and saves the aggregates, with its cache.
    public let repository: Repository<A, Store>
    @usableFromInline let messageType: String
    @usableFromInline let metrics: CommandMetrics

    init(dispatcher: Dispatcher<Store>, repository: Repository<A, Store>) {
        self.dispatcher = dispatcher
        self.repository = repository
        self.messageType = "\(A.self).Command"
        self.metrics = CommandMetrics(aggregate: "\(A.self)")
    }

    /// Sends a command to the aggregate with stream `streamID`.
    ///
    /// - Parameters:
    ///   - command: the command.
    ///   - streamID: the aggregate's stream.
    ///   - metadata: metadata for the command's envelope (a `traceparent` entry is recorded in its hop).
    ///   - cause: the envelope of the message that caused this command, for correlation and causation.
    ///   - timeout: this call's own time limit, measured on the dispatcher's ``DispatcherConfiguration/clock`` from
    ///     the call, or `nil` for none (the default). It covers the wait for the stream's lane as well as the command;
    ///     see ``DispatchError/Code/deadlineExceeded`` for what the caller learns when it passes. A command that has
    ///     started is awaited, and an append the store has queued is not cancelled, so the call may return later than
    ///     the limit, within the store's own bounds (on SQLite, the writes queued ahead of it, each of which may wait
    ///     up to `busyTimeout` for a lock another program holds; on PostgreSQL, the request timeout).
    /// - Returns: the recorded events, the aggregate's new state and version, and the events' positions.
    /// - Throws: the domain error from ``Aggregate/decide(_:_:)`` (nothing is written); ``EventStoreError`` when the
    ///   store fails, including ``EventStoreError/Code/wrongExpectedVersion`` once the retry policy's attempts are
    ///   used up; ``DispatchError`` past the policy's time limit (`timedOut`) or `timeout` (`deadlineExceeded`), and
    ///   once the dispatcher is shut down or stopped (`shutDown`); ``ExecutorError/Code/reentrantSubmission`` when
    ///   sent from inside the handling of a command on the same stream (from its task or a child task of it), which
    ///   would wait for itself (Executors.md, "Re-entrancy").
    @inlinable
    public nonisolated(nonsending) func send(
        _ command: A.Command,
        to streamID: StreamID,
        metadata: [String: String] = [:],
        causedBy cause: EnvelopeMetadata? = nil,
        timeout: Duration? = nil
    ) async throws -> CommandResult<A> {
        let envelope =
            if let cause {
                MessageEnvelope(message: command, causedBy: cause, streamID: streamID, metadata: metadata)
            } else {
                MessageEnvelope(message: command, streamID: streamID, metadata: metadata)
            }
        return try await send(envelope, timeout: timeout)
    }

    /// Sends a command in an envelope the caller built; its `streamID` must be set.
    ///
    /// The dispatcher does not remember the envelopes it ran: sending one again (the same
    /// ``MessageEnvelope/messageID``) decides and appends the command again, on the aggregate's state then. The event
    /// store's idempotency is by event id (see ``EventStore/append(_:to:expectedVersion:)``). To run a command at most
    /// once across retries, or after a `deadlineExceeded` whose outcome is unknown, make the command idempotent in the
    /// domain, or read the stream first; a `WhizbangCluster` client deduplicates on the message id through its inbox.
    ///
    /// - Parameters:
    ///   - envelope: the command's envelope.
    ///   - timeout: this call's own time limit, as in ``send(_:to:metadata:causedBy:timeout:)``. Default: none.
    /// - Throws: as ``send(_:to:metadata:causedBy:timeout:)``; ``EventStoreError/Code/invalidStreamID`` if the
    ///   envelope has no stream id.
    @inlinable
    public nonisolated(nonsending) func send(_ envelope: MessageEnvelope<A.Command>, timeout: Duration? = nil)
        async throws
        -> CommandResult<A>
    {
        guard let streamID = envelope.streamID else {
            throw EventStoreError(.invalidStreamID, message: "a command envelope needs a stream id")
        }
        guard let timeout else { return try await traced(envelope, to: streamID, mark: nil) }
        return try await dispatcher.withCallTimeout(timeout, messageID: envelope.messageID, streamID: streamID) {
            mark in try await traced(envelope, to: streamID, mark: mark)
        }
    }

    /// Dispatches the command, inside a tracing span when the dispatcher has instrumentation; `mark`, if given, is
    /// marked when the command starts on its lane.
    @inlinable
    nonisolated(nonsending) func traced(_ envelope: MessageEnvelope<A.Command>, to streamID: StreamID, mark: StartMark?)
        async throws -> CommandResult<A>
    {
        guard let instrumentation = dispatcher.configuration.instrumentation else {
            return try await dispatch(envelope, to: streamID, mark: mark)
        }
        return try await instrumentation.withSpan(
            "whizbang.send", parent: envelope.metadata, attributes: spanAttributes(envelope, streamID)
        ) { propagation in
            var traced = envelope
            traced.metadata.merge(propagation) { _, new in new }
            return try await dispatch(traced, to: streamID, mark: mark)
        }
    }

    @usableFromInline
    func spanAttributes(_ envelope: MessageEnvelope<A.Command>, _ streamID: StreamID) -> [String: String] {
        [
            "whizbang.aggregate": "\(A.self)", "whizbang.stream": streamID.rawValue,
            "whizbang.message_id": envelope.messageID.description,
        ]
    }

    @inlinable
    nonisolated(nonsending) func dispatch(
        _ envelope: MessageEnvelope<A.Command>,
        to streamID: StreamID,
        mark: StartMark?
    ) async throws -> CommandResult<A> {
        if dispatcher.refusesOutsideWork {
            let error = DispatchError(.shutDown, messageID: envelope.messageID, streamID: streamID)
            metrics.recordFailure(error)
            throw error
        }
        let outcome = dispatcher.decide(messageType: messageType, streamID: streamID, metadata: envelope.metadata)
        let start = ContinuousClock.now
        do {
            let result: CommandResult<A>
            switch outcome.execution {
            case .serial:
                // The place on the lane is taken here, in the caller's isolation (so that sends keep their order);
                // the command runs off the caller's actor.
                result = try await dispatcher.lanes.runAfterPlace(key: streamID) {
                    mark?.markStarted()
                    return try await asWork {
                        try await handle(
                            envelope, streamID: streamID, outcome: outcome, executor: "serial", start: start)
                    }
                }
            case .parallel:
                result = try await dispatchParallel(envelope, to: streamID, outcome: outcome, mark: mark, start: start)
            }
            metrics.recordAccepted(after: ContinuousClock.now - start, retries: result.attempts - 1)
            return result
        } catch {
            let error = dispatcherError(for: error, messageID: envelope.messageID, streamID: streamID)
            metrics.recordFailure(error)
            throw error
        }
    }

    /// Runs a command on the parallel executor, off the caller's actor (parallel commands keep no order).
    @usableFromInline
    @concurrent
    func dispatchParallel(
        _ envelope: MessageEnvelope<A.Command>, to streamID: StreamID, outcome: PolicyOutcome, mark: StartMark?,
        start: ContinuousClock.Instant
    ) async throws -> CommandResult<A> {
        try await dispatcher.parallelCommands.run {
            mark?.markStarted()
            return try await asWork {
                try await handle(envelope, streamID: streamID, outcome: outcome, executor: "parallel", start: start)
            }
        }
    }

    /// The current state of an aggregate, read after every command sent to it before, and after the events another
    /// writer (another process on the store) appended to its stream: see ``Repository/load(_:)``.
    ///
    /// - Throws: the store's ``EventStoreError``; ``DispatchError/Code/shutDown`` once the dispatcher is shut down or
    ///   stopped, as a command sent then would.
    public func load(_ streamID: StreamID) async throws -> LoadedAggregate<A> {
        if dispatcher.refusesOutsideWork { throw DispatchError(.shutDown, messageID: nil, streamID: streamID) }
        do {
            return try await dispatcher.lanes.run(key: streamID) {
                try await asWork { try await repository.load(streamID) }
            }
        } catch {
            throw dispatcherError(for: error, messageID: nil, streamID: streamID)
        }
    }

    @inlinable
    nonisolated(nonsending) func handle(
        _ envelope: MessageEnvelope<A.Command>,
        streamID: StreamID,
        outcome: PolicyOutcome,
        executor: String,
        start: ContinuousClock.Instant
    ) async throws -> CommandResult<A> {
        if let timeout = outcome.timeout {
            // A command's result exists only once its events are stored: one that comes after the limit stands.
            return try await withTimeout(
                timeout, clock: dispatcher.configuration.clock, messageID: envelope.messageID, streamID: streamID,
                resultIsProof: true
            ) {
                try await attempt(envelope, streamID: streamID, outcome: outcome, executor: executor, start: start)
            }
        }
        return try await attempt(envelope, streamID: streamID, outcome: outcome, executor: executor, start: start)
    }

    @inlinable
    nonisolated(nonsending) func attempt(
        _ envelope: MessageEnvelope<A.Command>,
        streamID: StreamID,
        outcome: PolicyOutcome,
        executor: String,
        start: ContinuousClock.Instant
    ) async throws -> CommandResult<A> {
        var attempts = 0
        while true {
            attempts += 1
            let (loaded, events) = try await decide(envelope.message, streamID: streamID)
            var handled = envelope
            handled.append(
                hop: dispatcher.hop(
                    for: envelope, executor: executor, outcome: outcome, duration: ContinuousClock.now - start))
            let metadata = handled.metadataOnly
            do {
                // A compact stored form, written by hand: what the event's row and the defaults restore is left out.
                let encoded =
                    events.isEmpty
                    ? Data()
                    : metadata.storedForm(rowStreamID: streamID, encoding: dispatcher.configuration.envelopeEncoding)
                let saved: (result: AppendResult, aggregate: LoadedAggregate<A>)
                if let instrumentation = dispatcher.configuration.instrumentation, !events.isEmpty {
                    saved = try await instrumentation.withSpan(
                        "whizbang.append", parent: envelope.metadata, attributes: spanAttributes(envelope, streamID)
                    ) { _ in try await repository.save(events, after: loaded, metadata: encoded) }
                } else {
                    saved = try await repository.save(events, after: loaded, metadata: encoded)
                }
                return CommandResult(
                    envelope: metadata, events: events, aggregate: saved.aggregate, positions: saved.result.positions,
                    attempts: attempts)
            } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
                guard attempts < outcome.retry.maximumAttempts else { throw error }
                metrics.recordConflict(streamID: streamID, attempt: attempts, error: error, logger: dispatcher.logger)
                try await dispatcher.configuration.clock.sleep(
                    for: outcome.retry.backoff(beforeRetry: attempts).asTimeLimit)
            }
        }
    }
}

extension AggregateHandler {
    /// Loads the aggregate and decides `command` on it. A cached aggregate may be behind another writer's events,
    /// which only an append would reveal (as a conflict): a decision on it that appends nothing, or that rejects the
    /// command, is taken again on the stream as stored when its version shows that the cache was behind. That costs
    /// one read of the stream's version, and only for such decisions. When that read fails, its error is thrown:
    /// a rejection, or an answer without events, on state that may be behind would be taken for final.
    @inlinable
    nonisolated(nonsending) func decide(_ command: A.Command, streamID: StreamID) async throws
        -> (LoadedAggregate<A>, [A.Event])
    {
        let (loaded, cached) = try await repository.loadNotingCache(streamID)
        guard cached else { return (loaded, try A.decide(command, loaded.state)) }
        let events: [A.Event]
        do {
            events = try A.decide(command, loaded.state)
        } catch {
            guard let current = try await repository.reloadIfBehind(loaded) else { throw error }
            return (current, try A.decide(command, current.state))
        }
        guard events.isEmpty, let current = try await repository.reloadIfBehind(loaded) else {
            return (loaded, events)
        }
        return (current, try A.decide(command, current.state))
    }
}

/// The counters and timer one aggregate type reports through swift-metrics.
@usableFromInline
struct CommandMetrics: Sendable {
    let accepted: Counter
    let rejected: Counter
    let failed: Counter
    let conflicts: Counter
    let retriesExhausted: Counter
    let duration: Metrics.Timer

    init(aggregate: String) {
        let dimensions = [("aggregate", aggregate)]
        accepted = Counter(label: "whizbang_commands_accepted_total", dimensions: dimensions)
        rejected = Counter(label: "whizbang_commands_rejected_total", dimensions: dimensions)
        failed = Counter(label: "whizbang_commands_failed_total", dimensions: dimensions)
        conflicts = Counter(label: "whizbang_command_conflicts_total", dimensions: dimensions)
        retriesExhausted = Counter(label: "whizbang_command_retries_exhausted_total", dimensions: dimensions)
        duration = Metrics.Timer(label: "whizbang_command_duration_seconds", dimensions: dimensions)
    }

    @usableFromInline
    func recordAccepted(after elapsed: Duration, retries: Int) {
        accepted.increment()
        duration.record(duration: elapsed)
    }

    @usableFromInline
    func recordConflict(streamID: StreamID, attempt: Int, error: EventStoreError, logger: Logger) {
        conflicts.increment()
        logger.debug(
            "conflict, retrying", metadata: ["stream": "\(streamID)", "attempt": "\(attempt)", "error": "\(error)"])
    }

    /// Counts a command that did not succeed: a domain rejection, or a failure of the store or the dispatcher.
    @usableFromInline
    func recordFailure(_ error: any Error) {
        switch error {
        case let error as EventStoreError where error.code == .wrongExpectedVersion: retriesExhausted.increment()
        case is EventStoreError, is ExecutorError, is DispatchError, is CancellationError: failed.increment()
        default: rejected.increment()
        }
    }
}
