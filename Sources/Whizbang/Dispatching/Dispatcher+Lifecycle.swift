import Logging
import Synchronization

extension Dispatcher {
    /// How many callers wait on each of a dispatcher's executors, not counting those running.
    public struct QueueDepths: Hashable, Sendable {
        /// Commands waiting for their stream's serial lane.
        public var serialCommands: Int
        /// Commands that a policy sends to the parallel executor, waiting for a permit.
        public var parallelCommands: Int
        /// Stateless handlers (`invoke`) waiting for a permit.
        public var handlers: Int

        /// The three depths added up.
        public var total: Int { serialCommands + parallelCommands + handlers }
    }

    /// Whether the dispatcher accepts new commands and handlers: `false` once ``shutdown()`` or ``stop()`` has been
    /// called. While a shutdown drains, only the handlers still running may send commands and load aggregates.
    public var isAcceptingWork: Bool {
        !isShuttingDown.load(ordering: .acquiring) && parallel.isAcceptingWork && parallelCommands.isAcceptingWork
            && lanes.isAcceptingWork
    }

    /// Whether a command or load from the running task is refused because a shutdown has begun and the task is not
    /// inside one of this dispatcher's handlers (whose commands the shutdown waits for).
    @usableFromInline
    var refusesOutsideWork: Bool {
        isShuttingDown.load(ordering: .acquiring) && !isInsideOwnHandler
    }

    /// How many commands and handlers wait now, per executor. A snapshot: each count is read under its own lock.
    public var queueDepths: QueueDepths {
        QueueDepths(
            serialCommands: lanes.queuedCount, parallelCommands: parallelCommands.queuedCount,
            handlers: parallel.queuedCount)
    }

    /// Stops the dispatcher at once: every waiting command, handler and load fails with
    /// ``DispatchError/Code/shutDown``, and so does every later one.
    ///
    /// Once `stop()` returns, no command or handler starts but those already admitted, which are running: they finish
    /// and their callers get their results. Call ``shutdown()`` afterwards to wait for them. Safe to call from inside
    /// a handler.
    public func stop() {
        logger.debug("dispatcher stopping")
        parallel.stop()
        parallelCommands.stop()
        lanes.stop()
        backgroundDrain.withLock { $0 }?.cancel()
    }

    /// Whether the running task is inside a handler or command of this dispatcher, or a child task of one.
    var isInsideOwnHandler: Bool {
        let context = HandlerContext.current
        return context.isInside(parallel.identity) || context.isInside(parallelCommands.identity)
            || context.isInside(lanes.identity)
    }
}
