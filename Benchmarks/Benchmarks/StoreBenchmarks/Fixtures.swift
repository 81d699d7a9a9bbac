import Foundation
import Synchronization
import Whizbang
import WhizbangStore

/// What one benchmark's setup makes, for its closure and teardown.
///
/// `@unchecked Sendable`: `stored` is guarded by `lock`.
final class Fixture<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?

    var value: Value { lock.withLock { stored! } }

    func set(_ value: Value) {
        lock.withLock { stored = value }
    }

    func take() -> Value? {
        lock.withLock {
            defer { stored = nil }
            return stored
        }
    }
}

/// A counter shared by the samples of one benchmark (rounds done, streams used).
final class Counter: Sendable {
    private let count = Atomic(0)

    /// The current value, then adds one.
    func next() -> Int {
        count.add(1, ordering: .relaxed).oldValue
    }
}

/// A database file in a directory of its own: a copy of the prefilled store, or a new store with the schema (made
/// by opening and closing an `SQLiteEventStore`, so the baselines use exactly its schema).
struct BenchmarkDatabase {
    let directory: URL
    let path: String

    init(prefilled: Bool) async throws {
        directory = try Workload.makeRunDirectory()
        if prefilled {
            path = try await Workload.copyOfPrefilledStore(in: directory)
        } else {
            path = directory.appendingPathComponent("store.sqlite").path
            try SQLiteEventStore(path: path).close()
        }
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

/// An `SQLiteEventStore` with the default configuration but the given durability.
struct StoreFixture {
    let database: BenchmarkDatabase
    let store: SQLiteEventStore

    init(prefilled: Bool, durability: SQLiteEventStore.Configuration.Durability) async throws {
        database = try await BenchmarkDatabase(prefilled: prefilled)
        store = try await SQLiteEventStore.open(path: database.path, configuration: Workload.configuration(durability))
    }

    func close() {
        store.close()
        database.remove()
    }
}

/// A raw appender on its own connection.
struct RawAppenderFixture {
    let database: BenchmarkDatabase
    let appender: RawAppender

    init(prefilled: Bool, durability: SQLiteEventStore.Configuration.Durability) async throws {
        database = try await BenchmarkDatabase(prefilled: prefilled)
        appender = try RawAppender(path: database.path, durability: durability)
    }

    func close() {
        database.remove()
    }
}

/// The raw group-commit writer and its caller threads, on a new store.
struct RawGroupCommitFixture {
    let database: BenchmarkDatabase
    let writer: RawGroupCommitWriter
    let threads: ThreadGang
    let tickets: [RawGroupCommitWriter.Ticket]

    init(durability: SQLiteEventStore.Configuration.Durability, threadCount: Int, savepointPerAppend: Bool)
        async throws
    {
        database = try await BenchmarkDatabase(prefilled: false)
        writer = RawGroupCommitWriter(
            appender: try RawAppender(path: database.path, durability: durability),
            savepointPerAppend: savepointPerAppend
        )
        threads = ThreadGang(threadCount: threadCount, name: "raw.appender")
        tickets = (0..<threadCount).map { _ in RawGroupCommitWriter.Ticket() }
    }

    func close() {
        threads.stop()
        writer.stop()
        database.remove()
    }
}

/// One raw connection shared under a lock by appender threads, on a new store.
struct RawSharedConnectionFixture {
    let database: BenchmarkDatabase
    let appender: RawAppender
    let lock = NSLock()
    let threads: ThreadGang

    init(durability: SQLiteEventStore.Configuration.Durability, threadCount: Int) async throws {
        database = try await BenchmarkDatabase(prefilled: false)
        appender = try RawAppender(path: database.path, durability: durability)
        threads = ThreadGang(threadCount: threadCount, name: "raw.appender")
    }

    func close() {
        threads.stop()
        database.remove()
    }
}

/// A raw reader on a copy of the prefilled store.
struct RawReaderFixture {
    let database: BenchmarkDatabase
    let reader: RawReader

    init() async throws {
        database = try await BenchmarkDatabase(prefilled: true)
        reader = try RawReader(path: database.path)
    }

    func close() {
        database.remove()
    }
}
