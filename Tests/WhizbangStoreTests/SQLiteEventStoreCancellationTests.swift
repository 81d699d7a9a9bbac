import CWhizbangSQLite
import Foundation
import Synchronization
import Testing
@testable import WhizbangStore

/// Reads observe their task's cancellation, and closing from async code holds no thread of the pool.
@Suite("SQLiteEventStore cancellation and closing", .timeLimit(.minutes(5)))
struct SQLiteEventStoreCancellationTests {
    @Test func aReadInACancelledTaskThrowsCancellationError() async throws {
        try await withStore { store, _ in
            _ = try await store.append(makeEvents(10), to: "s", expectedVersion: .noStream)
            let read = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await store.readAll(after: 0, limit: 100)
            }
            await #expect(throws: CancellationError.self) { _ = try await read.value }
        }
    }

    @Test func aRunningReadIsInterruptedWhenItsTaskIsCancelled() async throws {
        try await withOneReaderPool { pool in
            let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
            let read = Task {
                try await pool.read { reader throws(SQLiteError) in
                    startedContinuation.yield()
                    // Counts to a trillion: hours, unless the read is interrupted.
                    return try reader.connection.queryInteger(
                        """
                        WITH RECURSIVE counter(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM counter WHERE n < 1000000000000)
                        SELECT count(*) FROM counter
                        """)
                }
            }
            for await _ in started { break }
            let clock = ContinuousClock()
            let cancelledAt = clock.now
            read.cancel()
            await #expect(throws: CancellationError.self) { _ = try await read.value }
            // The count takes hours, so ending at all shows the interruption; an interrupted read ends within
            // milliseconds, and the bound is generous enough for a heavily loaded machine.
            #expect(clock.now - cancelledAt < .seconds(60))
            // The connection serves the next read as usual.
            let next = try await pool.read { reader throws(SQLiteError) in try reader.connection.queryInteger("SELECT 42") }
            #expect(next == 42)
        }
    }

    @Test func closingEmptiesTheWritersStreamCacheWhileTheStoreIsStillHeld() async throws {
        try await withStore { store, _ in
            _ = try await store.append(makeEvents(2), to: "a", expectedVersion: .noStream)
            _ = try await store.append(makeEvents(2), to: "b", expectedVersion: .noStream)
            #expect(store.writer.streamCache.count == 2)
            await store.shutdown()
            // The writer thread has ended; the store object lives on in this scope.
            #expect(store.writer.streamCache.isEmpty)
        }
    }

    @Test func shutdownWaitsForTheWriterWithoutHoldingAThread() async throws {
        let gate = Gate()
        var configuration = SQLiteEventStore.Configuration.testing
        configuration.inlineProjections = [BlockingProjection(gate: gate)]
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            let append = Task { try await store.append(makeEvents(1), to: "s", expectedVersion: .noStream) }
            for await _ in gate.entered { break }
            // The writer thread is inside the append's transaction, waiting for the gate. Both tasks run on one
            // thread, the closing one first: if closing held that thread, the task opening the gate could not run.
            let executor = SingleThreadExecutor()
            defer { executor.stop() }
            let closing = Task(executorPreference: executor) { await store.shutdown() }
            let opening = Task(executorPreference: executor) { gate.open() }
            await opening.value
            await closing.value
            #expect(!gate.timedOut, "the gate was opened only after closing returned: closing held the thread")
            let result = try await append.value
            #expect(result.streamVersion == 1)
            await #expect(throws: EventStoreError.self) { _ = try await store.headPosition() }
        }
    }

    @Test func concurrentShutdownsAllReturnOnceTheStoreIsClosed() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await store.append(makeEvents(3), to: "s", expectedVersion: .noStream)
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { await store.shutdown() } }
            }
            await store.shutdown()
            store.close()
            await #expect(throws: EventStoreError.self) { _ = try await store.readAll(after: 0, limit: 1) }
        }
    }

    @Test func errorsCarrySQLitesResultCodeAndNoSQLText() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("notes.txt").path
            try Data(String(repeating: "not a database\n", count: 400).utf8).write(to: URL(fileURLWithPath: path))
            let error = await expectError(.notADatabase) { _ = try await SQLiteEventStore.open(path: path) }
            let cause = try #require(error?.underlyingError as? SQLiteError)
            #expect(cause.primaryCode == SQLITE_NOTADB)
            #expect(!cause.message.isEmpty)
            for text in [error.map { "\($0)" } ?? "", "\(cause)"] {
                #expect(!text.contains("PRAGMA"), "\(text)")
                #expect(!text.contains("`"), "\(text)")
            }
        }
    }
}

/// An inline projection that holds the writer thread inside its transaction until a gate opens.
private struct BlockingProjection: SQLiteInlineProjection {
    let gate: Gate
    let name = "blocking"
    let schema: [String] = []

    func apply(_ events: [RecordedEvent], in database: SQLiteInlineDatabase) throws {
        gate.enter()
    }
}

/// A gate the writer thread waits at, at most ten seconds (then it records that it timed out and goes on).
private final class Gate: Sendable {
    let entered: AsyncStream<Void>
    private let enteredContinuation: AsyncStream<Void>.Continuation
    private let semaphore = DispatchSemaphore(value: 0)
    private let didTimeOut = Mutex(false)

    init() {
        (entered, enteredContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    var timedOut: Bool { didTimeOut.withLock { $0 } }

    func enter() {
        enteredContinuation.yield()
        if semaphore.wait(timeout: .now() + .seconds(60)) == .timedOut {
            didTimeOut.withLock { $0 = true }
        }
    }

    func open() {
        semaphore.signal()
    }
}

/// A task executor with one thread, running jobs in the order they were enqueued.
private final class SingleThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs` and `isStopped` are guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var isStopped = false

    init() {
        let thread = Thread { [self] in run() }
        thread.name = "test.single-thread-executor"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        isStopped = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !isStopped { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
