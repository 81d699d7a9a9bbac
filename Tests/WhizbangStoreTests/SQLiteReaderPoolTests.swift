import Dispatch
import Foundation
import Synchronization
import Testing
@testable import WhizbangStore

/// The reader pool's queue.
@Suite("SQLiteReaderPool", .timeLimit(.minutes(5)))
struct SQLiteReaderPoolTests {
    @Test func aReadReleasesWhatItsClosureCapturedOnceItRanWhileOtherReadsWait() async throws {
        try await withOneReaderPool { pool in

            // The only reader is held by a first read while three more are queued, in this order: one that
            // captures an object, one that holds the reader again, and one more.
            let first = HeldRead(pool)
            await first.started()
            let released = Flag()
            let capturing = Task { try await pool.read(Self.capturing(Tracked(released))) }
            await Self.waitUntil(queued: 1, in: pool)
            let second = HeldRead(pool)
            await Self.waitUntil(queued: 2, in: pool)
            let last = Task { try await pool.read { _ throws(SQLiteError) in 0 } }
            await Self.waitUntil(queued: 3, in: pool)

            first.release()
            #expect(try await capturing.value == 1)
            await second.started()
            // The capturing read ran and returned, and the reader has moved on while a read is still queued behind
            // it: nothing may keep its closure now.
            #expect(released.isSet, "the queue kept the closure of a read that had run")
            second.release()
            _ = try await (first.value, second.value, last.value)
        }
    }

    /// A read whose closure holds `tracked`; the closure is the only holder.
    private static func capturing(_ tracked: Tracked) -> @Sendable (SQLiteReader) throws(SQLiteError) -> Int {
        { _ throws(SQLiteError) in withExtendedLifetime(tracked) { 1 } }
    }

    private static func waitUntil(queued count: Int, in pool: SQLiteReaderPool) async {
        while pool.queuedCount < count { await Task.yield() }
    }
}

/// Runs `body` with a started pool of one reader on a fresh, empty store's database; the pool is closed and the
/// database removed afterwards.
func withOneReaderPool<Result>(_ body: (SQLiteReaderPool) async throws -> Result) async throws -> Result {
    try await withTemporaryDirectory { directory in
        let path = directory.appendingPathComponent("events.sqlite").path
        let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
        store.close()
        let connection = try SQLiteConnection(path: path, busyTimeoutMilliseconds: 1_000)
        let pool = SQLiteReaderPool(readers: [try SQLiteReader(connection: connection)])
        pool.start()
        defer { pool.close() }
        return try await body(pool)
    }
}

/// A flag set once.
private final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// Sets its flag when it is deinitialized.
private final class Tracked: Sendable {
    let flag: Flag
    init(_ flag: Flag) { self.flag = flag }
    deinit { flag.set() }
}

/// A read that holds the reader thread until released.
private struct HeldRead: Sendable {
    private let gate: DispatchSemaphore
    private let startedStream: AsyncStream<Void>
    private let task: Task<Int, any Error>

    init(_ pool: SQLiteReaderPool) {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        let gate = DispatchSemaphore(value: 0)
        self.gate = gate
        startedStream = stream
        task = Task {
            try await pool.read { _ throws(SQLiteError) in
                continuation.yield()
                gate.wait()
                return 0
            }
        }
    }

    func started() async { for await _ in startedStream { break } }
    func release() { gate.signal() }
    var value: Int { get async throws { try await task.value } }
}
