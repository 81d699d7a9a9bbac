#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Logging
public import ServiceLifecycle
import Synchronization

/// Runs commands against aggregates on per-stream serial lanes, and stateless handlers on a bounded parallel executor.
///
/// Commands for one stream never interleave and apply in the order they were sent; commands for different streams run
/// concurrently. Obtain a typed handle for an aggregate with ``aggregate(_:configuration:)`` and send it commands.
///
/// As a ServiceLifecycle `Service`, ``run()`` waits for graceful shutdown, then stops accepting commands and finishes
/// the ones in flight before returning. Without a service group, call ``shutdown()``.
public final class Dispatcher<Store: EventStore>: Service, Sendable {
    /// The dispatcher's configuration, under its former nested name.
    @available(*, deprecated, renamed: "DispatcherConfiguration")
    public typealias Configuration = DispatcherConfiguration

    /// The store commands are appended to.
    public let store: Store
    /// The configuration the dispatcher was created with.
    public let configuration: DispatcherConfiguration
    @usableFromInline let lanes: ExecutorPool<StreamID>
    /// Runs stateless handlers (`invoke`).
    let parallel: ParallelExecutor
    /// Runs commands a policy sends to the parallel executor; separate from ``parallel`` so that handlers holding
    /// every permit can still send such commands instead of waiting for a permit they hold themselves.
    @usableFromInline let parallelCommands: ParallelExecutor
    @usableFromInline let logger: Logger
    let defaultOutcome: PolicyOutcome
    /// The event type names of the aggregates handles were made for, to report collisions.
    let eventNames = Mutex(EventNameIndex())
    /// Set when ``shutdown()`` begins: from then on the lanes take only the commands and loads of the handlers still
    /// running (they drain last), and refuse those from outside, as the parallel executors already do.
    let isShuttingDown = Atomic(false)
    /// The drain that a ``shutdown()`` called inside a handler started and does not wait for; ``stop()`` cancels it.
    let backgroundDrain = Mutex<Task<Void, Never>?>(nil)

    /// Creates a dispatcher over `store`.
    public init(
        store: Store, configuration: DispatcherConfiguration = DispatcherConfiguration(), logger: Logger? = nil
    ) {
        self.store = store
        self.configuration = configuration
        self.logger = logger ?? Logger(label: "whizbang.dispatcher")
        var laneConfiguration = ExecutorPool<StreamID>.Configuration()
        laneConfiguration.label = "\(configuration.serviceName).lanes"
        laneConfiguration.shardCount = configuration.laneShardCount
        self.lanes = ExecutorPool(configuration: laneConfiguration)
        var parallelConfiguration = ParallelExecutor.Configuration()
        parallelConfiguration.label = "\(configuration.serviceName).parallel"
        parallelConfiguration.maximumConcurrency = configuration.maximumParallelism
        self.parallel = ParallelExecutor(configuration: parallelConfiguration)
        parallelConfiguration.label = "\(configuration.serviceName).parallel-commands"
        self.parallelCommands = ParallelExecutor(configuration: parallelConfiguration)
        self.defaultOutcome = configuration.policies.decide(
            for: PolicyContext(messageType: "", streamID: nil, metadata: [:]))
    }

    /// A handle that sends commands to aggregates of type `A`, with its own repository (cache and snapshots).
    ///
    /// Create one handle per aggregate type and keep it: each handle has its own cache. The aggregate's event type
    /// names are checked against those of the other aggregates: a collision is logged here as a warning and makes
    /// ``run()`` and ``checkEventNames()`` throw.
    public func aggregate<A: Aggregate>(
        _ type: A.Type,
        configuration: RepositoryConfiguration = RepositoryConfiguration()
    ) -> AggregateHandler<A, Store> {
        registerEventNames(of: A.self)
        return AggregateHandler(
            dispatcher: self,
            repository: Repository(store: store, configuration: configuration, logger: logger))
    }

    /// Runs a stateless handler on the parallel executor, under the policies for `envelope`.
    ///
    /// The policies' time limit applies; their execution mode does not (a stateless handler always runs on the
    /// parallel executor), and the hop says so: its execution decision is `execution=parallel`, by `"default"` when
    /// no rule chose an execution mode (the hop's default trail, stored in its compact form), and by `"invoke"` when
    /// a rule chose one that `invoke` does not follow.
    ///
    /// - Parameters:
    ///   - envelope: the message.
    ///   - timeout: this call's own time limit, measured on ``DispatcherConfiguration/clock`` from the call, or `nil`
    ///     for none (the default). It covers the wait for a permit as well as the handler; see
    ///     ``DispatchError/Code/deadlineExceeded`` for what the caller learns when it passes. At the limit a started
    ///     handler is cancelled and awaited: one that ignores cancellation keeps the caller waiting until it returns.
    ///   - handler: the handler.
    /// - Returns: what `handler` returns.
    /// - Throws: what `handler` throws; ``DispatchError/Code/timedOut`` past the policy's time limit;
    ///   ``DispatchError/Code/deadlineExceeded`` past `timeout`; ``DispatchError/Code/shutDown`` once the dispatcher
    ///   is shut down or stopped.
    ///
    /// A handler may send commands, but should not `invoke` and await further handlers: with every permit held by
    /// handlers waiting for one, none would start.
    public func invoke<Message: Sendable, Result: Sendable>(
        _ envelope: MessageEnvelope<Message>,
        timeout: Duration? = nil,
        handler: @escaping @Sendable (MessageEnvelope<Message>) async throws -> Result
    ) async throws -> Result {
        var decided = decide(messageType: "\(Message.self)", streamID: envelope.streamID, metadata: envelope.metadata)
        // The hop records what runs the handler, not a serial lane that a rule (or the default) would have chosen.
        decided.execution = .parallel
        for index in decided.decisions.indices where decided.decisions[index].decision.hasPrefix("execution=") {
            let rule = decided.decisions[index].rule == "default" ? "default" : "invoke"
            decided.decisions[index] = PolicyDecision(rule: rule, decision: "execution=parallel")
        }
        let outcome = decided
        var handled = envelope
        handled.append(hop: hop(for: envelope, executor: "parallel", outcome: outcome))
        let finalEnvelope = handled
        let run: @Sendable (StartMark?) async throws -> Result = { mark in
            do {
                return try await self.parallel.run {
                    mark?.markStarted()
                    return try await withTimeout(
                        outcome.timeout, clock: self.configuration.clock, messageID: envelope.messageID,
                        streamID: envelope.streamID
                    ) {
                        try await asWork { try await handler(finalEnvelope) }
                    }
                }
            } catch {
                throw dispatcherError(for: error, messageID: envelope.messageID, streamID: envelope.streamID)
            }
        }
        guard let timeout else { return try await run(nil) }
        return try await withCallTimeout(timeout, messageID: envelope.messageID, streamID: envelope.streamID, run)
    }

    /// Waits for graceful shutdown, then stops accepting work and finishes what is in flight.
    ///
    /// Graceful shutdown drains, as ``shutdown()`` does; cancellation stops, as ``stop()`` does: waiting callers
    /// fail with ``DispatchError/Code/shutDown``, and `run()` returns at once without waiting for the commands and
    /// handlers already running (they finish on their own, and their callers get their results). Cancelled while it
    /// drains, it stops the same way, so a handler that never returns cannot keep it from returning. Outside a
    /// service group, to drain before the task ends, `await` ``shutdown()`` first, then cancel the task.
    ///
    /// - Throws: ``EventNameCollision`` at once, before serving, if the aggregates' registries store one event type
    ///   name for more than one kind of event (see ``checkEventNames()``).
    public func run() async throws {
        try checkEventNames()
        try? await gracefulShutdown()
        guard !Task.isCancelled else { return stop() }
        await withTaskCancellationHandler {
            await shutdown()
        } onCancel: {
            stop()
        }
    }

    /// Stops accepting work and returns once every command and handler already accepted has finished.
    ///
    /// Stateless handlers drain first, since a running handler may still send commands (and load aggregates): those
    /// are taken until the handlers are done; commands and loads from outside are refused from the start, so a
    /// handler that waits for the effect of a command sent from outside (by a process manager's runner, say) waits
    /// in vain: give such a wait a time limit. Commands never call handlers. If the calling task is cancelled, it
    /// returns without waiting further.
    ///
    /// Called inside a handler or command of this dispatcher (or a child task of one), it returns at once, since it
    /// cannot wait for the work it is part of, and the drain goes on without it, as from outside: new handlers and
    /// commands from outside are refused at once, and the handlers still running, the caller included, may send
    /// their commands until they are done. Call it from outside to wait. A `Task {}`
    /// started inside a handler counts as inside (it inherits the handler's task-local values, which is how the
    /// dispatcher tells): a handler that stops the process after draining, say, runs the drain in a
    /// `Task.detached {}` that it does not await: that task waits for the drain, the handler included.
    public func shutdown() async {
        isShuttingDown.store(true, ordering: .releasing)
        if isInsideOwnHandler {
            logger.debug("dispatcher draining, called from one of its handlers: not waiting")
            parallel.stopAdmitting()
            // The same drain, in a task that does not inherit the handler's context (it would count as inside) and
            // that nobody awaits: it ends once the handlers, this one included, and their commands are done, or at
            // once when `stop()` cancels it.
            let task = Task.detached { [self] in await drain() }
            let isFirst = backgroundDrain.withLock { current in
                guard current == nil else { return false }
                current = task
                return true
            }
            // One such drain is enough; a later one is not kept.
            if !isFirst { task.cancel() }
            return
        }
        await drain()
    }

    /// Drains the stateless handlers first, since a running handler may still send commands, then the commands.
    private func drain() async {
        logger.debug("dispatcher draining")
        await parallel.drain()
        await parallelCommands.drain()
        await lanes.drain()
        logger.debug("dispatcher drained")
    }

    @usableFromInline
    func decide(messageType: String, streamID: StreamID?, metadata: [String: String]) -> PolicyOutcome {
        if configuration.policies.rules.isEmpty { return defaultOutcome }
        return configuration.policies.decide(
            for: PolicyContext(messageType: messageType, streamID: streamID, metadata: metadata))
    }

    @inlinable
    func hop<Message>(
        for envelope: MessageEnvelope<Message>,
        executor: String,
        outcome: PolicyOutcome,
        duration: Duration? = nil
    ) -> Hop {
        Hop(
            serviceName: configuration.serviceName,
            instanceID: configuration.instanceID,
            streamID: envelope.streamID,
            executorName: executor,
            policyDecisions: outcome.decisions,
            duration: duration,
            traceParent: envelope.metadata["traceparent"].flatMap(TraceParent.init)
        )
    }
}

/// Runs `body`, failing with ``DispatchError/Code/timedOut`` if it takes longer than `timeout` on `clock`.
///
/// At the time limit `body` is cancelled; the outcome reaches the caller once `body` has returned or thrown, so that a
/// serial lane is never released while its handler still runs. Handlers should therefore respond to cancellation.
/// When the caller's task is cancelled instead, `body` sees the cancellation and its own outcome is reported as it
/// is: its result if it completed anyway, since what it wrote stands (before, the timer's `CancellationError` was).
///
/// - Parameter resultIsProof: whether a result of `body` proves its work was done, as a command's result does (it
///   exists only once the command's events are stored): such a result, returned after the limit, is reported as it
///   is. Otherwise (a handler's value, which may be a stand-in returned on cancellation) the limit's `timedOut`
///   (outcome unknown) is.
@usableFromInline
func withTimeout<Result: Sendable>(
    _ timeout: Duration?,
    clock: any Clock<Duration>,
    messageID: MessageID,
    streamID: StreamID?,
    resultIsProof: Bool = false,
    _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    guard let timeout else { return try await body() }
    let (result, limitPassed) = await raceTimeLimit(timeout, clock: clock, startAtOnce: false, body)
    // Time was up: the handler was cancelled and has been awaited; whatever it did before it stopped stands.
    if limitPassed, resultIsProof, case .success(let value) = result { return value }
    // Else what it returned after the cancellation may be a stand-in, which is why `timedOut` means "outcome unknown".
    guard !limitPassed else {
        throw DispatchError(.timedOut, messageID: messageID, streamID: streamID, timeout: timeout)
    }
    return try result.get()
}
