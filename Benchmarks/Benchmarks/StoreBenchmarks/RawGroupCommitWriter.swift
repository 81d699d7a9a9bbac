import Dispatch
import Foundation
import Whizbang

/// The raw baseline of group commit: the simplest correct one, written against the C API.
///
/// Caller threads queue single-event appends and block on a semaphore of their own; one writer thread takes every
/// pending append, runs them all in one `BEGIN IMMEDIATE` … `COMMIT` transaction with ``RawAppender`` (no
/// savepoints: a version conflict is found by the version check before anything is written), and then wakes each
/// caller. What it leaves out against the store — savepoints, validation, Swift continuations instead of blocked
/// threads — is part of the overhead being measured. With `savepointPerAppend` it wraps each append in
/// `SAVEPOINT` / `RELEASE` as the store does, which shows what the savepoints alone cost.
///
/// `@unchecked Sendable`: the queue is guarded by `condition`; the appender is used only by the writer thread.
final class RawGroupCommitWriter: @unchecked Sendable {
    /// One caller thread's way back: set by the writer before it signals.
    final class Ticket: @unchecked Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        var succeeded = false
    }

    private struct Request {
        var event: EventData
        var streamID: String
        var expectedVersion: UInt64
        var ticket: Ticket
    }

    private let condition = NSCondition()
    private var pending: [Request] = []
    private var isStopping = false
    private var isStopped = false
    private let appender: RawAppender
    private let savepointPerAppend: Bool

    init(appender: RawAppender, savepointPerAppend: Bool) {
        self.appender = appender
        self.savepointPerAppend = savepointPerAppend
        pending.reserveCapacity(1024)
        let thread = Thread { [self] in run() }
        thread.name = "raw.groupcommit.writer"
        thread.start()
    }

    /// Appends one event and blocks the calling thread until its transaction has committed; `false` on a conflict.
    func append(_ event: EventData, to streamID: String, expectedVersion: UInt64, ticket: Ticket) -> Bool {
        condition.lock()
        pending.append(Request(event: event, streamID: streamID, expectedVersion: expectedVersion, ticket: ticket))
        if pending.count == 1 { condition.signal() }
        condition.unlock()
        ticket.semaphore.wait()
        return ticket.succeeded
    }

    /// Commits what is queued, then stops the writer thread.
    func stop() {
        condition.lock()
        isStopping = true
        condition.broadcast()
        while !isStopped { condition.wait() }
        condition.unlock()
    }

    private func run() {
        var batch: [Request] = []
        batch.reserveCapacity(1024)
        var events: [EventData] = []
        events.reserveCapacity(1)
        while true {
            condition.lock()
            while pending.isEmpty && !isStopping { condition.wait() }
            if pending.isEmpty {
                isStopped = true
                condition.broadcast()
                condition.unlock()
                return
            }
            swap(&pending, &batch)
            condition.unlock()

            let now = RawAppender.nowMicroseconds()
            do {
                try appender.transaction {
                    for request in batch {
                        events.removeAll(keepingCapacity: true)
                        events.append(request.event)
                        if savepointPerAppend { try appender.savepoint.run() }
                        request.ticket.succeeded = try appender.append(
                            events,
                            to: request.streamID,
                            expectedVersion: request.expectedVersion,
                            now: now
                        )
                        if savepointPerAppend { try appender.releaseSavepoint.run() }
                    }
                }
            } catch {
                fatalError("raw group commit failed: \(error)")
            }
            for request in batch { request.ticket.semaphore.signal() }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
