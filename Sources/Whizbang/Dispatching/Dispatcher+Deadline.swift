import Synchronization

/// Records whether a command or handler given a per-call time limit has started, so that the error at the limit can
/// say whether anything may have been written.
@usableFromInline
final class StartMark: Sendable {
    private let started = Atomic(false)

    @usableFromInline
    init() {}

    /// Marks the work as started; called first thing on its lane or permit.
    @usableFromInline
    func markStarted() { started.store(true, ordering: .releasing) }

    var isStarted: Bool { started.load(ordering: .acquiring) }
}

extension Dispatcher {
    /// Runs `body` under the call's own time limit, measured on the configured clock.
    ///
    /// `body` runs in a child task started with `addImmediateTask`, so it takes its place on a lane before this
    /// returns to the caller's first suspension, and pipelined calls keep their order. At the limit the child is
    /// cancelled: a caller still queued leaves the queue and fails with ``DispatchError/Code/deadlineExceeded``
    /// (`commandStarted == false`, nothing written). A command that had started is awaited, so that its lane is never
    /// released while it runs, and its outcome is reported as it is: its result if it completed anyway, its own error
    /// if it failed for another reason, or `deadlineExceeded` with `commandStarted == true` (outcome unknown) if it
    /// stopped because of the cancellation.
    @usableFromInline
    nonisolated(nonsending) func withCallTimeout<Result: Sendable>(
        _ timeout: Duration,
        messageID: MessageID,
        streamID: StreamID?,
        _ body: @escaping @Sendable (StartMark) async throws -> Result
    ) async throws -> Result {
        let mark = StartMark()
        let (result, limitPassed) = await raceTimeLimit(timeout, clock: configuration.clock, startAtOnce: true) {
            try await body(mark)
        }
        guard limitPassed, case .failure(let error) = result else { return try result.get() }
        if !mark.isStarted || error is CancellationError {
            throw DispatchError(
                .deadlineExceeded, messageID: messageID, streamID: streamID, timeout: timeout,
                commandStarted: mark.isStarted)
        }
        throw error
    }
}

/// Runs `body` in a child task against a timer of `timeout` on `clock`, and returns its outcome and whether the time
/// limit passed first. At the limit `body` is cancelled and awaited, so that a serial lane is never released while
/// its handler still runs. A cancellation of the calling task reaches `body`, whose own outcome is returned. A clock
/// whose sleep fails with another error cannot keep the limit: `body` is ended as at the limit. With `startAtOnce`,
/// `body` starts with `addImmediateTask`, which runs it at once on the calling thread up to its first suspension, so
/// it takes its place on a lane before the caller's first suspension. Taking the caller's `isolation` keeps this
/// function on the caller's actor until then (a plain `async` function would leave it first, and calls made in
/// order would reach their lanes in any order); the race is then watched from there, so from a busy actor the limit
/// is acted on when that actor next runs.
@usableFromInline
func raceTimeLimit<Result: Sendable>(
    _ timeout: Duration,
    clock: any Clock<Duration>,
    startAtOnce: Bool,
    isolation: isolated (any Actor)? = #isolation,
    _ body: @escaping @Sendable () async throws -> Result
) async -> (result: Swift.Result<Result, any Error>, limitPassed: Bool) {
    await withTaskGroup(of: CallTimeoutEvent<Result>.self) { group in
        let run: @Sendable () async -> CallTimeoutEvent<Result> = {
            do { return .finished(.success(try await body())) } catch { return .finished(.failure(error)) }
        }
        if startAtOnce {
            // A closure written here, not `run` itself: passed as a value, the child did not start at once from an
            // actor (a test of sends from the main actor found them out of order).
            group.addImmediateTask { [isolation] in
                _ = isolation
                return await run()
            }
        } else {
            group.addTask(operation: run)
        }
        group.addTask {
            do {
                try await clock.sleep(for: timeout.asTimeLimit)
                return .limitPassed
            } catch is CancellationError {
                return .timerCancelled
            } catch {
                return .limitPassed
            }
        }
        var limitPassed = false
        while let event = await group.next() {
            switch event {
            case .finished(let result):
                group.cancelAll()
                return (result, limitPassed)
            case .limitPassed:
                limitPassed = true
                group.cancelAll()
            case .timerCancelled:
                continue
            }
        }
        preconditionFailure("the time-limited child task ended without a result")
    }
}

/// What ends first in a call with a time limit: the call itself, or its timer.
@usableFromInline
enum CallTimeoutEvent<Result: Sendable>: Sendable {
    case finished(Swift.Result<Result, any Error>)
    case limitPassed
    case timerCancelled
}

/// An error the work itself threw (a command's handling, a handler, a load), carried past the executor so that
/// ``dispatcherError(for:messageID:streamID:)`` passes it on as it is: an ``ExecutorError`` from another executor the
/// work used is the work's error, not this dispatcher refusing it.
@usableFromInline
struct WorkError: Error {
    @usableFromInline let error: any Error

    @usableFromInline
    init(_ error: any Error) { self.error = error }
}

/// Runs the work an executor admitted, marking its ``ExecutorError`` as the work's own (``WorkError``).
@inlinable
nonisolated(nonsending) func asWork<Result>(_ body: () async throws -> Result) async throws -> Result {
    do {
        return try await body()
    } catch let error as ExecutorError {
        throw WorkError(error)
    }
}

/// The error a caller of the dispatcher gets: ``DispatchError/Code/shutDown`` for an executor that refused the work
/// because it is draining or stopped, the work's own error as it is (see ``WorkError``), any other error unchanged.
@usableFromInline
func dispatcherError(for error: any Error, messageID: MessageID?, streamID: StreamID?) -> any Error {
    if let work = error as? WorkError { return work.error }
    guard let error = error as? ExecutorError, error.code == .draining || error.code == .stopped else { return error }
    return DispatchError(.shutDown, messageID: messageID, streamID: streamID)
}
