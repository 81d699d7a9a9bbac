import CWhizbangSQLite
import Foundation
import Logging
import Synchronization
import Testing
import WhizbangStore

/// The writer's fast paths: the WAL stays bounded and is removed at close, the stream cache follows another
/// store's appends, and an append that fails inside a group commit leaves the others intact.
@Suite("SQLiteEventStore writer", .timeLimit(.minutes(5)))
struct SQLiteWriterPathTests {
    static func walBytes(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)?.intValue) ?? 0
    }

    @Test func walIsBoundedWhileAppendingAndRemovedAtClose() async throws {
        var configuration = SQLiteEventStore.Configuration.testing
        configuration.checkpointPages = 200  // 800 KiB with 4 KiB pages
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            var largestWAL = 0
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<16 {
                    group.addTask {
                        for index in 0..<300 {
                            _ = try await store.append(
                                makeEvents(1), to: StreamID("s-\(writer)-\(index % 50)"), expectedVersion: .any)
                        }
                    }
                }
                while try await group.next() != nil { largestWAL = max(largestWAL, Self.walBytes(path)) }
            }
            largestWAL = max(largestWAL, Self.walBytes(path))
            #expect(try await store.headPosition() == 4_800)
            // The hard bound is four times the threshold; allow one more batch and the WAL header.
            #expect(largestWAL <= 5 * 200 * 4096 + 2 << 20, "the WAL reached \(largestWAL) bytes")
            store.close()
            #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "the WAL is left after close")
        }
    }

    @Test func walStaysUnderItsSizeBoundUnderSustainedAppends() async throws {
        var configuration = SQLiteEventStore.Configuration.testing
        // Far above the size bound, so only the size bound can keep the WAL small.
        configuration.checkpointPages = 100_000
        configuration.maximumWALBytes = 1 << 20
        try await withStore(configuration: configuration) { store, path in
            var largestWAL = 0
            for index in 0..<600 {
                _ = try await store.append(makeEvents(8), to: StreamID("s-\(index % 64)"), expectedVersion: .any)
                largestWAL = max(largestWAL, Self.walBytes(path))
            }
            #expect(try await store.headPosition() == 4_800)
            #expect(largestWAL <= 1 << 20, "the WAL reached \(largestWAL) bytes")
            // The appends wrote several times the bound, so the WAL was started over more than once.
            #expect(largestWAL > 1 << 19, "the WAL never grew to half its bound (\(largestWAL) bytes)")
        }
    }

    /// A reader stopped with a snapshot open (a console or a shell job suspended mid-read) held the writer for the
    /// busy timeout at every eighth of the size bound the WAL grew by, each restart checkpoint waiting for it and
    /// failing: seconds of stall, again and again, for every command.
    @Test("a stopped reader is waited for once at the WAL's size bound, not again; the WAL shrinks once it leaves")
    func aStoppedReaderIsWaitedForOnce() async throws {
        var configuration = SQLiteEventStore.Configuration.testing
        configuration.checkpointPages = 100_000
        configuration.maximumWALBytes = 1 << 20
        configuration.busyTimeout = .milliseconds(200)
        let checkpoints = CheckpointLog()
        configuration.logger = Logger(label: "test") { _ in CheckpointLog.Handler(log: checkpoints) }
        configuration.logger.logLevel = .trace
        try await withStore(configuration: configuration) { store, path in
            _ = try await store.append(makeEvents(8), to: "first", expectedVersion: .any)
            var reader: OpaquePointer?
            try #require(sqlite3_open_v2(path, &reader, SQLITE_OPEN_READONLY, nil) == SQLITE_OK)
            defer { sqlite3_close_v2(reader) }
            // A read transaction that has read holds its snapshot until it ends.
            try #require(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM events;", nil, nil, nil) == SQLITE_OK)
            for index in 0..<600 {
                _ = try await store.append(makeEvents(8), to: StreamID("s-\(index % 64)"), expectedVersion: .any)
            }
            #expect(Self.walBytes(path) > 1 << 20, "the reader's snapshot did not keep the WAL")
            // The first wait for the reader fails; it is not waited for again on the same snapshot.
            let waited = checkpoints.waitedAndFailed
            #expect(waited == 1, "\(waited) checkpoints waited for the reader and failed")
            try #require(sqlite3_exec(reader, "COMMIT", nil, nil, nil) == SQLITE_OK)
            // Once the reader has left, the WAL starts over within its bound.
            var smallest = Int.max
            for index in 0..<200 {
                _ = try await store.append(makeEvents(8), to: StreamID("t-\(index % 64)"), expectedVersion: .any)
                smallest = min(smallest, Self.walBytes(path))
            }
            #expect(smallest <= 1 << 20, "the WAL stayed at \(smallest) bytes")
        }
    }

    @Test func walSizeBoundBelowOneMebibyteIsRefused() async throws {
        var configuration = SQLiteEventStore.Configuration.testing
        configuration.maximumWALBytes = 512 << 10
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            await expectError(.invalidArgument) {
                _ = try await SQLiteEventStore.open(path: path, configuration: configuration)
            }
        }
    }

    /// A negative busy timeout opened a store as if it were zero: refused now, as other values out of range are, and
    /// nothing is created.
    @Test func aNegativeBusyTimeoutIsRefused() async throws {
        var configuration = SQLiteEventStore.Configuration.testing
        configuration.busyTimeout = .milliseconds(-5)
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let error = await expectError(.invalidArgument) {
                _ = try await SQLiteEventStore.open(path: path, configuration: configuration)
            }
            #expect(error?.message.contains("busyTimeout") == true, "\(error?.message ?? "")")
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func streamCacheFollowsAnotherStoresAppends() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let first = try await SQLiteEventStore.open(path: path, configuration: .testing)
            let second = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer {
                first.close()
                second.close()
            }
            for round in 0..<20 {
                let version = UInt64(round * 2)
                let a = try await first.append(makeEvents(1), to: "shared", expectedVersion: .exact(version))
                #expect(a.streamVersion == version + 1)
                // The first store's cache says version + 1; the second store moves the stream on.
                let b = try await second.append(makeEvents(1), to: "shared", expectedVersion: .exact(version + 1))
                #expect(b.streamVersion == version + 2)
                await #expect(throws: EventStoreError.self) {
                    try await first.append(makeEvents(1), to: "shared", expectedVersion: .exact(version + 1))
                }
            }
            #expect(try await first.streamVersion(of: "shared") == 40)
            let events = try await first.readStream("shared", from: 1, direction: .forwards, limit: 100)
            #expect(events.map(\.streamVersion) == Array(1...40))
        }
    }

    @Test func failedAppendsInOneBatchLeaveTheOthersIntact() async throws {
        try await withStore { store, _ in
            let existing = makeEvents(1)
            _ = try await store.append(existing, to: "taken", expectedVersion: .noStream)
            // Many concurrent appends, so they share group commits: single events to known streams (no savepoint),
            // new streams and several events (savepoint), conflicts and duplicate event ids.
            let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for index in 0..<200 {
                    group.addTask {
                        do {
                            switch index % 4 {
                            case 0: _ = try await store.append(makeEvents(1), to: StreamID("s\(index)"), expectedVersion: .noStream)
                            case 1: _ = try await store.append(makeEvents(3), to: StreamID("s\(index)"), expectedVersion: .any)
                            case 2:  // duplicate id of an event stored in another stream
                                _ = try await store.append(existing, to: StreamID("d\(index)"), expectedVersion: .any)
                            default: _ = try await store.append(makeEvents(1), to: "taken", expectedVersion: .noStream)
                            }
                            return (index, true)
                        } catch {
                            return (index, false)
                        }
                    }
                }
                var outcomes: [Int: Bool] = [:]
                for try await (index, succeeded) in group { outcomes[index] = succeeded }
                return outcomes
            }
            for (index, succeeded) in outcomes { #expect(succeeded == (index % 4 < 2), "append \(index)") }
            #expect(try await store.headPosition() == 1 + 50 + 150)
            let all = try await store.readAll(after: 0, limit: 1_000)
            #expect(all.map(\.position) == Array(1...201))
            for index in stride(from: 1, to: 200, by: 4) {
                #expect(try await store.streamVersion(of: StreamID("s\(index)")) == 3)
                #expect(try await store.streamVersion(of: StreamID("d\(index + 1)")) == 0)
            }
            #expect(try await store.streamVersion(of: "taken") == 1)
        }
    }
}

/// Counts the writer's full and restart checkpoints that failed (`SQLITE_BUSY`), from its trace log.
private final class CheckpointLog: Sendable {
    private let failed = Atomic<Int>(0)

    var waitedAndFailed: Int { failed.load(ordering: .relaxed) }

    struct Handler: LogHandler {
        let log: CheckpointLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            guard event.message == "writer checkpoint", let metadata = event.metadata,
                metadata["code"] == "\(SQLITE_BUSY)",
                metadata["mode"] == "\(SQLITE_CHECKPOINT_RESTART)" || metadata["mode"] == "\(SQLITE_CHECKPOINT_FULL)"
            else { return }
            log.failed.add(1, ordering: .relaxed)
        }
    }
}
