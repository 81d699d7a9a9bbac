import CWhizbangSQLite
import Foundation
import Whizbang

/// Reader connections, each on a thread of its own, serving reads from one shared queue.
///
/// `@unchecked Sendable`: the queue is guarded by `condition`; each ``SQLiteReader`` is used only by its thread.
final class SQLiteReaderPool: @unchecked Sendable {
    typealias Job = @Sendable (SQLiteReader) -> Void

    private let condition = NSCondition()
    /// The queue: jobs before ``nextJob`` were taken, and are `nil` so that what their closures captured is released
    /// as soon as they ran; the array is emptied whenever the queue drains, which a steady stream of reads may never
    /// let it do.
    private var jobs: [Job?] = []
    private var nextJob = 0
    private var isClosing = false
    private var runningThreads = 0
    private let readers: [SQLiteReader]

    init(readers: [SQLiteReader]) {
        self.readers = readers
    }

    /// Starts one thread per reader.
    func start() {
        runningThreads = readers.count
        for (index, reader) in readers.enumerated() {
            nonisolated(unsafe) let reader = reader
            let thread = Thread { [self] in
                nameCurrentThread("whizbang.read.\(index)")
                OwnThread.mark(self)
                run(reader)
            }
            thread.name = "whizbang.read.\(index)"
            thread.start()
        }
    }

    /// Runs `body` on a reader thread and returns its result; SQLite errors come back as `EventStoreError`.
    ///
    /// The read observes the calling task's cancellation: a read still queued is dropped, and one running is
    /// stopped by its connection's progress handler; either way it throws `CancellationError`.
    func read<Result: Sendable>(
        _ body: @escaping @Sendable (SQLiteReader) throws(SQLiteError) -> Result
    ) async throws -> Result {
        let job = SQLiteReadJob<Result>()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                guard job.enqueue(continuation) else { return }
                let accepted = submit { reader in
                    guard job.start(on: reader.cancellation) else { return }
                    do throws(SQLiteError) {
                        job.finish(.success(try body(reader)))
                    } catch {
                        job.finish(.failure(error.primaryCode == SQLITE_INTERRUPT ? CancellationError() : error.eventStoreError))
                    }
                }
                if !accepted {
                    job.finish(.failure(EventStoreError(.closed, message: "the event store was closed")))
                }
            }
        } onCancel: {
            job.cancel()
        }
    }

    /// The jobs queued and not yet taken by a reader thread.
    var queuedCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count - nextJob
    }

    private func submit(_ job: @escaping Job) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !isClosing else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// Whether the caller runs on one of the pool's threads (a read's own code, such as a reduction's `update`).
    var isCurrentThread: Bool { OwnThread.isCurrent(self) }

    /// Finishes the queued reads, refuses later ones, closes the connections and returns when every thread has
    /// stopped. Must not be called on one of the pool's threads (``isCurrentThread``), which would wait for itself.
    func close() {
        beginClose()
        condition.lock()
        while runningThreads > 0 { condition.wait() }
        condition.unlock()
    }

    /// Refuses later reads and lets the threads finish the queued ones and stop, without waiting for them.
    func beginClose() {
        condition.lock()
        isClosing = true
        condition.broadcast()
        condition.unlock()
    }

    private func run(_ reader: SQLiteReader) {
        while true {
            condition.lock()
            while nextJob == jobs.count && !isClosing { condition.wait() }
            guard nextJob < jobs.count else {
                condition.unlock()
                break
            }
            let job = jobs[nextJob].take()!
            nextJob += 1
            if nextJob == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                nextJob = 0
            }
            condition.unlock()
            job(reader)
        }
        // Close before counting the thread as stopped, so that the store's last connection (the maintenance
        // connection, which checkpoints and removes the WAL) really is the last one to close.
        reader.connection.close()
        condition.lock()
        runningThreads -= 1
        condition.broadcast()
        condition.unlock()
    }
}
