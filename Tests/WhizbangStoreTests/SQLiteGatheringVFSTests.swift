import CWhizbangSQLite
import Foundation
import ProcessTesting
import Testing
import Whizbang
@testable import WhizbangStore

/// The writer's WAL writes are gathered into one write per commit, and what other connections read is the same as
/// without gathering, at both durabilities.
@Suite("SQLite WAL gathering", .timeLimit(.minutes(2)))
struct SQLiteGatheringVFSTests {
    static func configuration(_ durability: SQLiteEventStore.Configuration.Durability, gathers: Bool = true)
        -> SQLiteEventStore.Configuration
    {
        var configuration = SQLiteEventStore.Configuration.testing
        configuration.durability = durability
        configuration.gathersWALWrites = gathers
        return configuration
    }

    @Test(arguments: [SQLiteEventStore.Configuration.Durability.normal, .full])
    func aCommitsFramesReachTheWALInOneWrite(durability: SQLiteEventStore.Configuration.Durability) async throws {
        try await withStore(configuration: Self.configuration(durability)) { store, _ in
            _ = try await store.append(makeEvents(1), to: "warm-up", expectedVersion: .noStream)
            let before = try #require(store.walWriteCounts)
            let events = makeEvents(300)
            _ = try await store.append(events, to: "bulk", expectedVersion: .noStream)
            let after = try #require(store.walWriteCounts)
            let gathered = after.gathered - before.gathered
            let issued = after.issued - before.issued
            // 300 events of ~60 bytes and their index entries: several pages, two SQLite writes each.
            #expect(gathered >= 8, "gathered \(gathered) writes")
            #expect(issued == 1, "\(gathered) gathered writes reached the file in \(issued) writes")
            let read = try await store.readStream("bulk", from: 1, direction: .forwards, limit: 1_000)
            #expect(read.map(\.eventID) == events.map(\.eventID))
            #expect(read.map(\.data) == events.map(\.data))
        }
    }

    /// SQLite's `unix` VFS writes at most the low 17 bits of a length: a commit gathered past 128 KiB must reach it
    /// in smaller pieces, or the write comes up short and fails with `SQLITE_FULL`. The buffer holds one piece and
    /// is written as it fills; the next commit gathers from its start again.
    @Test(arguments: [SQLiteEventStore.Configuration.Durability.normal, .full])
    func aCommitLargerThanOneVFSWriteIsWrittenInPieces(durability: SQLiteEventStore.Configuration.Durability)
        async throws
    {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let writer = try await SQLiteEventStore.open(path: path, configuration: Self.configuration(durability))
            defer { writer.close() }
            let filler = String(repeating: "x", count: 300)
            let events = (0..<2_000).map { index in
                EventData(
                    eventType: "Deposited", data: Data(#"{"amount":\#(index),"note":"\#(filler)"}"#.utf8))
            }
            let before = try #require(writer.walWriteCounts)
            _ = try await writer.append(events, to: "bulk", expectedVersion: .noStream)
            let after = try #require(writer.walWriteCounts)
            // About 700 KB of frames: at least six pieces of at most 124 KiB, far fewer than the frames' writes.
            let issued = after.issued - before.issued
            #expect(issued >= 6 && issued * 10 <= after.gathered - before.gathered, "\(before) → \(after)")
            let reader = try await SQLiteEventStore.open(
                path: path, configuration: Self.configuration(durability, gathers: false))
            defer { reader.close() }
            let read = try await reader.readStream("bulk", from: 1, direction: .forwards, limit: 5_000)
            #expect(read.map(\.eventID) == events.map(\.eventID))
            #expect(read.map(\.data) == events.map(\.data))
            let small = makeEvents(3)
            _ = try await writer.append(small, to: "after", expectedVersion: .noStream)
            let readSmall = try await reader.readStream("after", from: 1, direction: .forwards, limit: 10)
            #expect(readSmall.map(\.eventID) == small.map(\.eventID))
        }
    }

    @Test(arguments: [SQLiteEventStore.Configuration.Durability.normal, .full])
    func otherConnectionsReadEveryCommitAtOnce(durability: SQLiteEventStore.Configuration.Durability) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let writer = try await SQLiteEventStore.open(path: path, configuration: Self.configuration(durability))
            defer { writer.close() }
            // A second store on the file reads through connections of its own, with SQLite's default VFS.
            let reader = try await SQLiteEventStore.open(
                path: path, configuration: Self.configuration(durability, gathers: false))
            defer { reader.close() }
            #expect(reader.walWriteCounts == nil)
            for round in 0..<60 {
                let events = makeEvents(1 + round % 7)
                let stream = StreamID("s-\(round % 5)")
                let result = try await writer.append(events, to: stream, expectedVersion: .any)
                let read = try await reader.readAll(after: result.positions.lowerBound - 1, limit: 100)
                #expect(read.map(\.eventID) == events.map(\.eventID), "round \(round)")
                #expect(read.map(\.data) == events.map(\.data), "round \(round)")
            }
            let counts = try #require(writer.walWriteCounts)
            #expect(counts.issued > 0 && counts.issued * 4 <= counts.gathered, "\(counts)")
        }
    }

    @Test func concurrentAppendsSurviveReopeningWithAndWithoutGathering() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            for (round, gathers) in [true, false, true].enumerated() {
                let store = try await SQLiteEventStore.open(
                    path: path, configuration: Self.configuration(.normal, gathers: gathers))
                #expect((store.walWriteCounts != nil) == gathers)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for appender in 0..<16 {
                        group.addTask {
                            for index in 0..<25 {
                                _ = try await store.append(
                                    makeEvents(1), to: StreamID("r\(round)-a\(appender)-\(index % 3)"),
                                    expectedVersion: .any)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                store.close()
            }
            let store = try await SQLiteEventStore.open(path: path, configuration: Self.configuration(.normal))
            defer { store.close() }
            #expect(try await store.headPosition() == 3 * 16 * 25)
            let all = try await store.readAll(after: 0, limit: 2_000)
            #expect(all.map(\.position) == Array(1...1_200))
            #expect(try await store.streamVersion(of: "r2-a15-0") == 9)
        }
    }

    /// A transaction larger than the page cache spills frames before it commits, and they are gathered; rolled back,
    /// they stayed gathered, and the next transaction's look at the WAL index wrote them into the WAL, over the
    /// frames that another connection had committed there meanwhile: its rows read back as the rolled-back pages.
    @Test func theFramesOfARolledBackTransactionAreNeverWritten() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("raw.sqlite").path
            try #require(FileManager.default.createFile(atPath: path, contents: nil))
            _ = try executeRawSQL("PRAGMA journal_mode = WAL; CREATE TABLE t (x BLOB)", path: path)
            _ = try executeRawSQL("PRAGMA wal_checkpoint(TRUNCATE)", path: path)
            try #require(SQLiteGatheringVFS.isRegistered)
            var gathering: OpaquePointer?
            try #require(
                sqlite3_open_v2(path, &gathering, SQLITE_OPEN_READWRITE, SQLiteGatheringVFS.name) == SQLITE_OK)
            defer { sqlite3_close_v2(gathering) }
            func run(_ sql: String) throws {
                let code = sqlite3_exec(gathering, sql, nil, nil, nil)
                try #require(code == SQLITE_OK, "\(sql): \(String(cString: sqlite3_errmsg(gathering)))")
            }
            // Ten pages of rows through a cache of five: SQLite spills frames into the WAL (gathered) before the
            // end, and the transaction is rolled back.
            try run("PRAGMA cache_size = 5")
            try run("BEGIN IMMEDIATE")
            try run(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) "
                    + "INSERT INTO t SELECT randomblob(1000) FROM n")
            try run("ROLLBACK")
            // Another connection commits five rows, at the WAL's start.
            _ = try executeRawSQL(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) "
                    + "INSERT INTO t SELECT zeroblob(1000) FROM n", path: path)
            // The gathering connection reads: its look at the WAL index goes through the barrier.
            try run("SELECT count(*) FROM t")
            #expect(try executeRawSQL("PRAGMA integrity_check", path: path) == [["ok"]])
            #expect(try executeRawSQL("SELECT count(*), sum(length(x)) FROM t", path: path) == [["5", "5000"]])
        }
    }
}
