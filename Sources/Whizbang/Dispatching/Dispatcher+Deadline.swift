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
    func withCallTimeout<Result: Sendable>(
        _ timeout: Duration,
        messageID: MessageID,
        streamID: StreamID?,
        _ body: @escaping @Sendable (StartMark) async throws -> Result
    ) async throws -> Result {
        let mark = StartMark()
        let clock = configuration.clock
        let settled = await withTaskGroup(of: CallTimeoutEvent<Result>.self) { group -> Swift.Result<Result, any Error> in
            group.addImmediateTask {
                do { return .finished(.success(try await body(mark))) } catch { return .finished(.failure(error)) }
            }
            group.addTask {
                do {
                    try await clock.sleep(for: timeout.asTimeLimit)
                    return .limitPassed
                } catch is CancellationError {
                    return .timerCancelled
                } catch {
                    // A clock that fails cannot keep the limit: the call is ended as at the limit.
                    return .limitPassed
                }
            }
            var limitPassed = false
            while let event = await group.next() {
                switch event {
                case .finished(let result):
                    group.cancelAll()
                    guard limitPassed, case .failure(let error) = result else { return result }
                    if !mark.isStarted || error is CancellationError {
                        return .failure(
                            DispatchError(
                                .deadlineExceeded, messageID: messageID, streamID: streamID, timeout: timeout,
                                commandStarted: mark.isStarted))
                    }
                    return result
                case .limitPassed:
                    limitPassed = true
                    group.cancelAll()
                case .timerCancelled:
                    continue
                }
            }
            preconditionFailure("the call's child task ended without a result")
        }
        return try settled.get()
    }
}

/// What ends first in a call with a time limit: the call itself, or its timer.
@usableFromInline
enum CallTimeoutEvent<Result: Sendable>: Sendable {
    case finished(Swift.Result<Result, any Error>)
    case limitPassed
    case timerCancelled
}

/// The dispatcher's own error for work refused because it is shut down or stopped, in place of the executor's
/// `draining` or `stopped`; every other error is returned unchanged.
@usableFromInline
func dispatcherError(for error: any Error, messageID: MessageID?, streamID: StreamID?) -> any Error {
    guard let error = error as? ExecutorError, error.code == .draining || error.code == .stopped else { return error }
    return DispatchError(.shutDown, messageID: messageID, streamID: streamID)
}
