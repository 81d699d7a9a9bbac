import CWhizbangSQLite
import Dispatch
import Foundation
import Logging
import ProcessTesting
import Synchronization
import Testing
import Whizbang
import WhizbangStore

/// Balances per account from `Posted` events: the read model these tests build.
private struct Balances: ReadModelProjection {
    struct Row: Codable, Sendable, Hashable { var balance: Int }
    struct Posting: Codable { var account: String; var amount: Int }

    var name = "balances"
    var mode: ReadModelMode = .inline

    func keys(of event: RecordedEvent) throws -> [String] {
        guard event.eventType == "Posted" else { return [] }
        return [try JSONDecoder().decode(Posting.self, from: event.data).account]
    }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        let posting = try JSONDecoder().decode(Posting.self, from: event.data)
        return Row(balance: (row?.balance ?? 0) + posting.amount)
    }

    static func posting(_ account: String, _ amount: Int) -> EventData {
        EventData(
            eventType: "Posted", data: try! JSONEncoder().encode(Posting(account: account, amount: amount)),
            metadata: Data())
    }

    /// The rows a fold of `events` gives, by key.
    static func fold(_ events: [RecordedEvent]) throws -> [String: Int] {
        var balances: [String: Int] = [:]
        let projection = Balances()
        for event in events {
            for key in try projection.keys(of: event) {
                balances[key] = try projection.apply(event, to: balances[key].map { Row(balance: $0) }, key: key)?
                    .balance
            }
        }
        return balances
    }
}

/// The balances again, at version 2, in cents and in a row of another shape.
private struct BalancesInCents: ReadModelProjection {
    struct Row: Codable, Sendable, Hashable { var cents: Int }

    let name = "balances"
    let version = 2

    func keys(of event: RecordedEvent) throws -> [String] { try Balances().keys(of: event) }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        let posting = try JSONDecoder().decode(Balances.Posting.self, from: event.data)
        return Row(cents: (row?.cents ?? 0) + posting.amount * 100)
    }
}

/// The balances at version 2, whose fold throws on a posting to "poison": a build of it fails on such an event.
private struct BalancesThatThrow: ReadModelProjection {
    struct Row: Codable, Sendable, Hashable { var cents: Int }
    struct Poisoned: Error {}

    let name = "balances"
    let version = 2

    func keys(of event: RecordedEvent) throws -> [String] { try Balances().keys(of: event) }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        guard key != "poison" else { throw Poisoned() }
        let posting = try JSONDecoder().decode(Balances.Posting.self, from: event.data)
        return Row(cents: (row?.cents ?? 0) + posting.amount * 100)
    }
}

/// Every row of the balances, read in pages, as balances by key.
private func storedBalances(_ store: SQLiteEventStore) async throws -> [String: Int] {
    let model = ReadModel(Balances(), in: store)
    var balances: [String: Int] = [:]
    var after: String?
    for _ in 0..<10_000 {
        var query = ReadModelQuery(limit: 1_000)
        query.after = after
        let page = try await model.rows(matching: query)
        guard let last = page.last else { return balances }
        for entry in page { balances[entry.key] = entry.value.balance }
        after = last.key
    }
    Issue.record("the rows did not end")
    return balances
}

private func wholeLog(_ store: SQLiteEventStore) async throws -> [RecordedEvent] {
    var events: [RecordedEvent] = []
    while true {
        let page = try await store.readAll(after: events.last?.position ?? 0, limit: 10_000)
        if page.isEmpty { return events }
        events += page
    }
}

/// Appends `count` postings to 500 accounts, a thousand events an append.
private func appendHistory(_ store: SQLiteEventStore, count: Int) async throws {
    var appended = 0
    while appended < count {
        let events = (appended..<min(appended + 1_000, count)).map { Balances.posting("acct-\($0 % 500)", $0 % 7 - 2) }
        _ = try await store.append(events, to: StreamID("history-\(appended / 1_000 % 10)"), expectedVersion: .any)
        appended += events.count
    }
}

/// Batches a store reports, as a stream the test awaits.
private final class BatchReports: Sendable {
    let stream: AsyncStream<SQLiteReadModelBatch>
    let continuation: AsyncStream<SQLiteReadModelBatch>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: SQLiteReadModelBatch.self)
    }
}

@Suite("SQLite read models", .serialized, .timeLimit(.minutes(10)))
struct SQLiteReadModelTests {
    /// The issue's case: an inline read model added to a store of 100,000 events is backfilled in batches, shows
    /// progress, takes appends while it runs, and ends equal to a fold of the log.
    @Test func aReadModelAddedToAHundredThousandEventStoreIsBackfilledWhileAppendsGoOn() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let history = try await SQLiteEventStore.open(path: path, configuration: .testing)
            try await appendHistory(history, count: 100_000)
            await history.shutdown()

            let reports = BatchReports()
            let gate = DispatchSemaphore(value: 0)
            let batches = Atomic<Int>(0)
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [Balances()]
            configuration.readModelBatchCommitted = { batch in
                reports.continuation.yield(batch)
                // Hold the writer after the first batch until the test has queued its appends (bounded).
                if batches.add(1, ordering: .relaxed).newValue == 1 { _ = gate.wait(timeout: .now() + 60) }
                return true
            }
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            defer { store.close() }
            var iterator = reports.stream.makeAsyncIterator()
            let first = try #require(await iterator.next())
            #expect(first.from == 0 && first.to == 1_000 && !first.isLive)

            let status = try await store.readModelStatus(named: "balances")
            #expect(status.state == .backfilling)
            #expect(status.servedVersion == nil)
            let fraction = Double(status.position) / Double(status.head)
            #expect(fraction > 0 && fraction < 1, "progress \(status.position) of \(status.head)")
            await #expect(throws: ReadModelError.self) { try await store.readModelRow(named: "balances", key: "acct-1") }

            // Queue appends while the writer is held between two batches of the backfill.
            let appends = Task {
                try await withThrowingTaskGroup(of: AppendResult.self) { group in
                    for index in 0..<5 {
                        group.addTask {
                            try await store.append(
                                [Balances.posting("acct-\(index)", 1_000), Balances.posting("late-\(index)", 5)],
                                to: StreamID("late-\(index)"), expectedVersion: .noStream)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            var spins = 0
            while store.pendingWriteCount < 5 {
                await Task.yield()
                spins += 1
                try #require(spins < 10_000_000, "the appends were not queued")
            }
            gate.signal()
            let results = try await appends.value
            #expect(results.count == 5)
            let lastAppended = try #require(results.map { $0.positions.upperBound - 1 }.max())
            #expect(lastAppended > 100_000)

            try await store.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(300))
            var last = first
            while !last.isLive, let next = await iterator.next() { last = next }
            #expect(last.isLive && last.to >= lastAppended, "the backfill applied the appends made while it ran")
            #expect(try await storedBalances(store) == Balances.fold(try await wholeLog(store)))

            // Live now: the next append is folded inline.
            _ = try await store.append([Balances.posting("acct-1", 7)], to: "after", expectedVersion: .noStream)
            #expect(try await storedBalances(store) == Balances.fold(try await wholeLog(store)))
        }
    }

    /// A new version is built beside the old rows, which stay as they were until the swap: appends made meanwhile
    /// are not folded into them by the new version's code (whose row shape may not even read them).
    @Test func aVersionBumpLeavesTheOldRowsAsTheyWereUntilTheSwap() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [Balances()]
            let first = try await SQLiteEventStore.open(path: path, configuration: configuration)
            for amount in [5, 1, 1] {
                _ = try await first.append([Balances.posting("a", amount)], to: "s", expectedVersion: .any)
            }
            await first.shutdown()

            // Version 2 keeps cents in a row of another shape; its build applies one event and is then held.
            var bumped = configuration
            bumped.readModels = [BalancesInCents()]
            bumped.readModelBatchSize = 1
            bumped.readModelBatchCommitted = { _ in false }
            let store = try await SQLiteEventStore.open(path: path, configuration: bumped)
            defer { store.close() }
            _ = try await store.append([Balances.posting("a", 7)], to: "s", expectedVersion: .any)
            let row = try #require(try await store.readModelRow(named: "balances", key: "a"))
            #expect(try JSONDecoder().decode(Balances.Row.self, from: row.body) == Balances.Row(balance: 7))
            #expect(try await store.readModelStatus(named: "balances").servedVersion == 1)
        }
    }

    /// Two stores with different versions of a read model on one file. The older one took the newer one's build
    /// as its own when it read the states again: it folded that generation with its own code and swapped it in, so
    /// rows of the old shape were served as version 2. Opened again while the build ran, it dropped that build.
    @Test func aStoreLeavesTheBuildOfAnotherVersionToTheStoreThatRunsIt() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [Balances()]
            let first = try await SQLiteEventStore.open(path: path, configuration: configuration)
            for amount in [5, 1, 1] {
                _ = try await first.append([Balances.posting("a", amount)], to: "s", expectedVersion: .any)
            }
            // Version 2 opens beside it; its build applies one event and is then held.
            let reports = BatchReports()
            var bumped = configuration
            bumped.readModels = [BalancesInCents()]
            bumped.readModelBatchSize = 1
            bumped.readModelBatchCommitted = { batch in
                reports.continuation.yield(batch)
                return false
            }
            let second = try await SQLiteEventStore.open(path: path, configuration: bumped)
            defer { second.close() }
            var iterator = reports.stream.makeAsyncIterator()
            let held = try #require(await iterator.next())
            #expect(held.to == 1)

            // The first store reads the states again at its next transaction and runs a batch after each commit.
            for amount in [7, 1] {
                _ = try await first.append([Balances.posting("a", amount)], to: "s", expectedVersion: .any)
            }
            let status = try await first.readModelStatus(named: "balances")
            #expect(status.servedVersion == 1)
            #expect(status.rebuild?.version == 2 && status.rebuild?.position == held.to, "\(status)")
            let row = try #require(try await first.readModelRow(named: "balances", key: "a"))
            #expect(try JSONDecoder().decode(Balances.Row.self, from: row.body) == Balances.Row(balance: 15))
            await first.shutdown()

            // Version 1 opened again while version 2 builds: the build stays as it was.
            let reopened = try await SQLiteEventStore.open(path: path, configuration: configuration)
            defer { reopened.close() }
            let again = try await reopened.readModelStatus(named: "balances")
            #expect(again.servedVersion == 1)
            #expect(again.rebuild?.version == 2 && again.rebuild?.position == held.to, "\(again)")
        }
    }

    /// A store whose read-model version is older than the one served does no read-model work of its own, and its
    /// wait was woken only by its own commits: the serving store's fold of its append writes no event, so the wait
    /// timed out although the read model had reached its goal. It now reads the status again at least every
    /// `externalChangePollInterval`.
    @Test func aWaitSeesTheFoldOfAnotherStoreOfANewerVersion() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var newer = SQLiteEventStore.Configuration.testing
            newer.readModels = [BalancesInCents()]
            let second = try await SQLiteEventStore.open(path: path, configuration: newer)
            defer { second.close() }
            _ = try await second.append([Balances.posting("a", 5)], to: "s", expectedVersion: .any)
            try await second.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(30))

            var older = SQLiteEventStore.Configuration.testing
            older.readModels = [Balances()]
            let first = try await SQLiteEventStore.open(path: path, configuration: older)
            defer { first.close() }
            let appended = try await first.append([Balances.posting("a", 1)], to: "s", expectedVersion: .any)
            let status = try await first.waitForReadModel(
                named: "balances", toReach: appended.positions.upperBound - 1, timeout: .seconds(20))
            #expect(status.position >= appended.positions.upperBound - 1, "\(status)")
        }
    }

    /// The wait read the status again every `externalChangePollInterval` as given: with zero (or less) it read it
    /// in a loop of reader transactions until the timeout. The interval counts as at least 1 millisecond, as for the
    /// store's poll of other processes' appends, so a wait of 200 milliseconds reads the status at most once per
    /// millisecond and once more when the time is up.
    @Test(arguments: [Duration.zero, .milliseconds(-5)])
    func aWaitWithAZeroPollIntervalReadsTheStatusABoundedNumberOfTimes(interval: Duration) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.externalChangePollInterval = interval
            configuration.readModels = [Balances()]
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            _ = try await store.append([Balances.posting("a", 5)], to: "s", expectedVersion: .noStream)
            try await store.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(30))
            let before = store.readModelStatusReadCount
            // A position the log does not reach: nothing wakes the wait but its poll, until the time is up.
            await #expect {
                try await store.waitForReadModel(named: "balances", toReach: 1_000, timeout: .milliseconds(200))
            } throws: { ($0 as? ReadModelError)?.code == .timedOut }
            let reads = store.readModelStatusReadCount - before
            #expect(reads >= 1)
            #expect(reads <= 250, "the wait read the status \(reads) times in 200 milliseconds")
            await store.shutdown()
        }
    }

    /// A store with an older version opened beside one that serves a newer version started a build of its own and
    /// swapped the older rows back in; the newer store never noticed and served rows of the wrong shape. It now
    /// leaves the newer version alone, and refuses a rebuild.
    @Test func aStoreLeavesANewerServedVersionAlone() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var newer = SQLiteEventStore.Configuration.testing
            newer.readModels = [BalancesInCents()]
            let second = try await SQLiteEventStore.open(path: path, configuration: newer)
            defer { second.close() }
            _ = try await second.append([Balances.posting("a", 5)], to: "s", expectedVersion: .any)
            try await second.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(30))

            var older = SQLiteEventStore.Configuration.testing
            older.readModels = [Balances()]
            let first = try await SQLiteEventStore.open(path: path, configuration: older)
            defer { first.close() }
            _ = try await first.append([Balances.posting("a", 1)], to: "s", expectedVersion: .any)
            await #expect {
                try await first.rebuildReadModel(named: "balances")
            } throws: { ($0 as? ReadModelError)?.code == .invalidVersion }

            _ = try await second.append([Balances.posting("a", 2)], to: "s", expectedVersion: .any)
            let status = try await second.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(30))
            #expect(status.servedVersion == 2 && status.rebuild == nil, "\(status)")
            let row = try #require(try await second.readModelRow(named: "balances", key: "a"))
            let cents = try JSONDecoder().decode(BalancesInCents.Row.self, from: row.body)
            #expect(cents == BalancesInCents.Row(cents: 800))
        }
    }

    /// A batch that failed on a storage error (here another connection holding the write lock past the busy timeout)
    /// paused the backfill until the next append or rebuild request, so a store that took no appends never finished
    /// it. It now tries again a second later.
    @Test func aBackfillGoesOnAfterAFailedBatchWithoutAnAppend() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let history = try await SQLiteEventStore.open(path: path, configuration: .testing)
            try await appendHistory(history, count: 5_000)
            await history.shutdown()

            let reports = BatchReports()
            let lockTaken = DispatchSemaphore(value: 0)
            let batches = Atomic<Int>(0)
            let failures = AsyncStream.makeStream(of: String.self)
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [Balances()]
            configuration.readModelBatchSize = 100
            configuration.busyTimeout = .milliseconds(20)
            configuration.logger = Logger(label: "test") { _ in MessageStream(continuation: failures.continuation) }
            configuration.readModelBatchCommitted = { batch in
                reports.continuation.yield(batch)
                // Hold the writer after the first batch until the test holds the write lock (bounded).
                if batches.add(1, ordering: .relaxed).newValue == 1 { _ = lockTaken.wait(timeout: .now() + 60) }
                return true
            }
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            defer { store.close() }
            var iterator = reports.stream.makeAsyncIterator()
            let first = try #require(await iterator.next())
            #expect(!first.isLive)

            var holder: OpaquePointer?
            try #require(sqlite3_open_v2(path, &holder, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK)
            defer { sqlite3_close_v2(holder) }
            try #require(sqlite3_exec(holder, "BEGIN IMMEDIATE", nil, nil, nil) == SQLITE_OK)
            lockTaken.signal()
            for await message in failures.stream where message.contains("read model batch failed") { break }
            try #require(sqlite3_exec(holder, "ROLLBACK", nil, nil, nil) == SQLITE_OK)

            try await store.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(60))
            #expect(try await storedBalances(store) == Balances.fold(try await wholeLog(store)))
        }
    }

    /// A backfill stopped between batches (the store closed) resumes from the position it recorded.
    @Test func aBackfillResumesAfterTheStoreIsClosedPartWay() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let history = try await SQLiteEventStore.open(path: path, configuration: .testing)
            try await appendHistory(history, count: 20_000)
            await history.shutdown()

            let firstReports = BatchReports()
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [Balances()]
            configuration.readModelBatchCommitted = { batch in
                firstReports.continuation.yield(batch)
                return batch.to < 3_000
            }
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            var stoppedAt: UInt64 = 0
            for await batch in firstReports.stream {
                stoppedAt = batch.to
                if batch.to >= 3_000 { break }
            }
            #expect(stoppedAt == 3_000)
            await store.shutdown()

            let secondReports = BatchReports()
            configuration.readModelBatchCommitted = { batch in
                secondReports.continuation.yield(batch)
                return true
            }
            let reopened = try await SQLiteEventStore.open(path: path, configuration: configuration)
            defer { reopened.close() }
            var iterator = secondReports.stream.makeAsyncIterator()
            let resumed = try #require(await iterator.next())
            #expect(resumed.from == stoppedAt, "the backfill resumed from position \(stoppedAt), not from 0")
            try await reopened.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(120))
            #expect(try await storedBalances(reopened) == Balances.fold(try await wholeLog(reopened)))
        }
    }

    /// A database written by schema-version-2 code migrates to version 4 and gets a read model backfilled.
    @Test func aSchemaVersionTwoFileMigratesAndGetsAReadModelBackfilled() async throws {
        struct EventsPerStream: ReadModelProjection {
            struct Row: Codable, Sendable { var count: Int }
            let name = "events-per-stream"
            func keys(of event: RecordedEvent) throws -> [String] { [event.streamID.rawValue] }
            func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
                Row(count: (row?.count ?? 0) + 1)
            }
        }
        try await withFixtureCopy(LibraryFixture.name) { path in
            #expect(try executeRawSQL("SELECT max(version) FROM schema_version", path: path) == [["2"]])
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [EventsPerStream()]
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            defer { store.close() }
            #expect(try executeRawSQL("SELECT max(version) FROM schema_version", path: path) == [["4"]])
            let status = try await store.waitForReadModel(
                named: "events-per-stream", toReach: nil, timeout: .seconds(60))
            #expect(status.position == 6)
            let model = ReadModel(EventsPerStream(), in: store)
            var expected: [String: Int] = [:]
            for event in try await store.readAll(after: 0, limit: 100) { expected[event.streamID.rawValue, default: 0] += 1 }
            let rows = try await model.rows()
            #expect(Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0.value.count) }) == expected)
        }
    }

    /// Rows of a generation the store no longer serves or builds are deleted; another read model's are not.
    @Test func oldGenerationsAreDeletedAndOtherReadModelsKept() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [Balances(), Balances(name: "kept")]
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            try await appendHistory(store, count: 2_000)
            try await store.rebuildReadModel(named: "balances")
            try await store.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(60))
            await store.shutdown()

            configuration.readModels = [Balances()]
            let reopened = try await SQLiteEventStore.open(path: path, configuration: configuration)
            defer { reopened.close() }
            try await reopened.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(60))
            // Deletion runs in batches after the swap; an append and a wait let the writer finish them.
            for _ in 0..<100 {
                let generations = try executeRawSQL(
                    "SELECT DISTINCT generation FROM read_model_rows WHERE model = 'balances'", path: path)
                if generations == [["2"]] { break }
                _ = try await reopened.append([Balances.posting("acct-1", 0)], to: "nudge", expectedVersion: .any)
            }
            #expect(
                try executeRawSQL("SELECT DISTINCT generation FROM read_model_rows WHERE model = 'balances'", path: path)
                    == [["2"]])
            #expect(try executeRawSQL("SELECT count(*) FROM read_model_rows WHERE model = 'kept'", path: path) == [["500"]])
            #expect(try await storedBalances(reopened) == Balances.fold(try await wholeLog(reopened)))
        }
    }

    /// Events another process appends to the file reach this process's read models: an async one follows them, and
    /// an inline one that process does not register catches up, without an append of this process to wake it.
    @Test(arguments: [ReadModelMode.async, .inline])
    func anotherProcesssAppendsReachTheReadModels(mode: ReadModelMode) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.externalChangePollInterval = .milliseconds(20)
            configuration.readModels = [Balances(mode: mode)]
            let following = try await SQLiteEventStore.open(path: path, configuration: configuration)
            // The other process: its own connections to the file, and no read models.
            let other = try await SQLiteEventStore.open(path: path, configuration: .testing)
            let appended = try await other.append(
                [Balances.posting("a", 5), Balances.posting("b", 7), Balances.posting("a", 1)], to: StreamID("s"),
                expectedVersion: .noStream)
            let status = try await following.waitForReadModel(
                named: "balances", toReach: appended.positions.upperBound - 1, timeout: .seconds(30))
            #expect(status.state == .live)
            #expect(try await storedBalances(following) == ["a": 6, "b": 7])
            // And it keeps following.
            let more = try await other.append([Balances.posting("b", -2)], to: StreamID("s"), expectedVersion: .any)
            try await following.waitForReadModel(
                named: "balances", toReach: more.positions.upperBound - 1, timeout: .seconds(30))
            #expect(try await storedBalances(following) == ["a": 6, "b": 5])
            await other.shutdown()
            await following.shutdown()
        }
    }

    /// Events another process appends between this store's opening and its first append are folded before that
    /// append's own: an inline read model does not skip them and move its position past them, whether or not the
    /// poll for other processes' appends has run.
    @Test func anotherProcesssAppendsBeforeTheFirstAppendAreNotSkipped() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.externalChangePollInterval = .seconds(3_600)
            configuration.readModels = [Balances()]
            let following = try await SQLiteEventStore.open(path: path, configuration: configuration)
            let other = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await other.append([Balances.posting("a", 5)], to: StreamID("s"), expectedVersion: .noStream)
            await other.shutdown()
            let own = try await following.append([Balances.posting("a", 7)], to: StreamID("t"), expectedVersion: .any)
            let status = try await following.waitForReadModel(
                named: "balances", toReach: own.positions.upperBound - 1, timeout: .seconds(30))
            #expect(status.state == .live)
            #expect(try await storedBalances(following) == ["a": 12])
            await following.shutdown()
        }
    }

    /// A batch size of `Int.max` ("no limit") rebuilds a read model and deletes the old generation's rows; the
    /// deletion's limit, ten batches' worth, trapped on the overflow before.
    @Test func aRebuildWithTheLargestBatchSizeDeletesTheOldRows() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [Balances()]
            configuration.readModelBatchSize = .max
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            _ = try await store.append(
                [Balances.posting("a", 5), Balances.posting("b", 7)], to: StreamID("s"), expectedVersion: .noStream)
            try await store.rebuildReadModel(named: "balances")
            let status = try await store.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(30))
            #expect(status.state == .live)
            #expect(status.rebuild == nil)
            #expect(try await storedBalances(store) == ["a": 5, "b": 7])
            await store.shutdown()
        }
    }

    /// While appends kept coming, the one batch the writer runs after each group commit always went to the first
    /// read model behind the head, and an async read model is behind again after every commit: the others never had
    /// a batch (their backfill, catch-up, rebuild or the deletion of old rows waited until the appends stopped). The
    /// writer now takes the read models, and their catch-ups, builds and deletions, in turn.
    @Test func everyReadModelGetsABatchWhileAppendsKeepComing() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let first = Balances(name: "first", mode: .async)
            let second = Balances(name: "second", mode: .async)
            let held = HeldBatches()
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [first, second]
            configuration.readModelBatchCommitted = { held.hook($0) }
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            defer { store.close() }
            let batches = try await held.batchesWhileAppendsKeepComing(to: store, rounds: 4)
            #expect(batches.map(\.name).contains(second.name), "the batches went to \(batches.map(\.name))")

            for model in [first, second] {
                try await store.waitForReadModel(named: model.name, toReach: nil, timeout: .seconds(60))
                let rows = try await ReadModel(model, in: store).rows()
                let balances = Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0.value.balance) })
                let expected = try Balances.fold(try await wholeLog(store))
                #expect(balances == expected, "\(model.name)")
            }
        }
    }

    /// The same for one async read model and its rebuild: the catch-up of the served rows took every batch, and a
    /// rebuild asked for while appends kept coming never got one.
    @Test func aRebuildGetsABatchWhileAppendsKeepComing() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let held = HeldBatches()
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [Balances(mode: .async)]
            configuration.readModelBatchCommitted = { held.hook($0) }
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            defer { store.close() }
            let batches = try await held.batchesWhileAppendsKeepComing(to: store, rounds: 4) {
                try await store.rebuildReadModel(named: "balances")
            }
            let generations = batches.map(\.generation)
            #expect(Set(generations).count == 2, "the batches wrote generations \(generations)")

            let status = try await store.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(60))
            #expect(status.rebuild == nil)
            #expect(try await storedBalances(store) == Balances.fold(try await wholeLog(store)))
        }
    }

    /// A build of a new version that failed, in another store on the same file, stopped the store that serves the old
    /// version: its read model no longer folded its appends (inline) nor followed the log in batches, and its queries
    /// returned rows ever more stale without an error. The failure now stops only the build; the stores that run the
    /// served version keep its rows up, and the status reports the failed build.
    @Test(arguments: [ReadModelMode.inline, .async])
    func aFailedBuildOfANewVersionLeavesTheServedRowsKeptUp(mode: ReadModelMode) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [Balances(mode: mode)]
            let first = try await SQLiteEventStore.open(path: path, configuration: configuration)
            defer { first.close() }
            _ = try await first.append(
                [Balances.posting("a", 5), Balances.posting("poison", 1)], to: "s", expectedVersion: .noStream)
            try await first.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(30))

            // Version 2 opens beside it and fails its build on the posting to "poison".
            var bumped = SQLiteEventStore.Configuration.testing
            bumped.readModels = [BalancesThatThrow()]
            let second = try await SQLiteEventStore.open(path: path, configuration: bumped)
            defer { second.close() }
            await #expect {
                try await second.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(60))
            } throws: { ($0 as? ReadModelError)?.code == .failed }

            // The first store's own appends: folded in the append (inline), or in the batch after its commit (async).
            _ = try await first.append([Balances.posting("a", 7)], to: "s", expectedVersion: .any)
            if mode == .inline { #expect(try await storedBalances(first) == ["a": 12, "poison": 1]) }
            // The second store's appends, which it does not fold (version 1 is not its version): the first store
            // catches up with them in a batch after its next commit, which has run when the commit after it returns.
            _ = try await second.append([Balances.posting("a", 1)], to: "s", expectedVersion: .any)
            try await first.saveCheckpoint(1, for: "nudge")
            try await first.saveCheckpoint(2, for: "nudge")
            #expect(try await storedBalances(first) == ["a": 13, "poison": 1])

            let status = try await first.readModelStatus(named: "balances")
            #expect(status.state == .failed && status.failure != nil, "\(status)")
            #expect(status.servedVersion == 1 && status.position == status.head, "\(status)")
            #expect(status.rebuild?.version == 2 && status.rebuild?.position == 0, "\(status)")
            // The store whose build failed reads the same rows, kept up by the first.
            #expect(try await storedBalances(second) == ["a": 13, "poison": 1])
        }
    }

    /// An event row the store never writes (here an event id that is not 16 bytes), met by an async read model's
    /// first backfill or by its catch-up of the rows served: the batch failed on `SQLITE_CORRUPT`, and the writer
    /// retried it every second for ever with a warning, while the status said `backfilling` or `live`. Corruption does
    /// not go away by itself, so the read model now fails with it, as it does when its projection throws.
    @Test(arguments: ["first backfill", "catch-up"])
    func aCorruptEventRowFailsTheReadModel(phase: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [Balances(mode: .async)]
            if phase == "catch-up" {
                let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
                _ = try await store.append([Balances.posting("a", 5)], to: "s", expectedVersion: .noStream)
                try await store.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(30))
                await store.shutdown()
            }
            // Appended without the read model, so that no batch has read them yet.
            let plain = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await plain.append(
                [Balances.posting("a", 7), Balances.posting("b", 1)], to: "t", expectedVersion: .noStream)
            let corrupt = try await plain.headPosition() - 1
            await plain.shutdown()
            _ = try executeRawSQL("UPDATE events SET event_id = x'00' WHERE position = \(corrupt)", path: path)

            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            defer { store.close() }
            // Well before the timeout: the batch that meets the row fails the read model.
            await #expect {
                try await store.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(20))
            } throws: { error in
                guard let error = error as? ReadModelError else { return false }
                return error.code == .failed && error.message.contains("corruptDatabase")
            }
            let status = try await store.readModelStatus(named: "balances")
            #expect(status.state == .failed, "\(status)")
            #expect(status.failure?.contains("position \(corrupt)") == true, "\(status)")
            #expect(status.position < corrupt, "\(status)")
            if phase == "catch-up" {
                // The rows served stay as they were, as after a projection's failure.
                #expect(status.servedVersion == 1, "\(status)")
                #expect(try await storedBalances(store) == ["a": 5])
            } else {
                await #expect {
                    _ = try await store.readModelRow(named: "balances", key: "a")
                } throws: { ($0 as? ReadModelError)?.code == .failed }
            }
        }
    }

    /// A task waiting for a read model fails with the store's error when the store closes.
    @Test func aWaitFailsWhenTheStoreCloses() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [Balances(mode: .async)]
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            let waiting = Task {
                try await store.waitForReadModel(named: "balances", toReach: 1_000, timeout: .seconds(120))
            }
            await store.shutdown()
            await #expect(throws: EventStoreError.self) { try await waiting.value }
        }
    }
}

/// Holds the writer after each read model batch until the test has queued its next write, so that a write is always
/// pending when the writer looks for its next work: the writer then runs exactly one batch after each group commit.
private final class HeldBatches: Sendable {
    private let reports = BatchReports()
    private let gate = DispatchSemaphore(value: 0)
    private let holding = Atomic<Bool>(true)

    /// The store's `readModelBatchCommitted` hook.
    func hook(_ batch: SQLiteReadModelBatch) -> Bool {
        reports.continuation.yield(batch)
        // A bounded wait: a test that fails does not hold the writer for ever.
        if holding.load(ordering: .relaxed) { _ = gate.wait(timeout: .now() + 60) }
        return true
    }

    /// Appends one event, then after each of `rounds` batches queues the next append and lets the writer go on; after
    /// the first batch it also queues `alsoAfterFirstBatch`, in the same group commit as the append. Returns the
    /// batches, in order, and lets the writer run freely from then on.
    func batchesWhileAppendsKeepComing(
        to store: SQLiteEventStore, rounds: Int, alsoAfterFirstBatch: (@Sendable () async throws -> Void)? = nil
    ) async throws -> [SQLiteReadModelBatch] {
        var writes = [Task { _ = try await store.append([Balances.posting("a", 1)], to: "s", expectedVersion: .any) }]
        var batches: [SQLiteReadModelBatch] = []
        var iterator = reports.stream.makeAsyncIterator()
        // From here on (and when a check fails) the writer runs freely.
        defer {
            holding.store(false, ordering: .relaxed)
            gate.signal()
        }
        for round in 1...rounds {
            batches.append(try #require(await iterator.next()))
            var queued = 1
            if round == 1, let alsoAfterFirstBatch {
                writes.append(Task { try await alsoAfterFirstBatch() })
                queued += 1
            }
            writes.append(
                Task { _ = try await store.append([Balances.posting("a", round)], to: "s", expectedVersion: .any) })
            var spins = 0
            while store.pendingWriteCount < queued {
                await Task.yield()
                spins += 1
                try #require(spins < 10_000_000, "the writes were not queued")
            }
            gate.signal()
        }
        // Each write was committed before the batch after it: they end while the writer is still held.
        for write in writes { try await write.value }
        return batches
    }
}

/// Yields every message logged at warning level or above.
private struct MessageStream: LogHandler {
    let continuation: AsyncStream<String>.Continuation
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        continuation.yield("\(event.message)")
    }
}
