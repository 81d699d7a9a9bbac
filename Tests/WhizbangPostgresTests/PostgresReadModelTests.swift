import Foundation
import Logging
import PostgresNIO
import PostgresTesting
import Synchronization
import Testing
import Whizbang
@testable import WhizbangPostgres

/// A read model of deposits per stream: the number of deposits and their total, indexed by the number of deposits
/// modulo 3. An event of a type in `refusedTypes` (`Poison` unless told otherwise) makes it throw.
struct DepositTotals: ReadModelProjection {
    struct Row: Codable, Sendable, Equatable {
        var deposits: Int
        var total: Int
    }

    struct Refused: Error, CustomStringConvertible {
        var eventType: String
        var description: String { "\(eventType.lowercased()) is refused" }
    }

    var name = "deposit-totals"
    var version = 1
    var mode: ReadModelMode = .inline
    var refusedTypes: Set<String> = ["Poison"]

    func keys(of event: RecordedEvent) throws -> [String] {
        if refusedTypes.contains(event.eventType) { throw Refused(eventType: event.eventType) }
        return event.eventType == "Deposited" ? [event.streamID.rawValue] : []
    }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        struct Amount: Decodable { var amount: Int }
        let amount = try JSONDecoder().decode(Amount.self, from: event.data).amount
        var row = row ?? Row(deposits: 0, total: 0)
        row.deposits += 1
        row.total += amount
        return row
    }

    func indexValue(of row: Row) -> String? { "mod-\(row.deposits % 3)" }

    /// The rows a fold of `events` gives, by key.
    func fold(_ events: [RecordedEvent]) throws -> [String: Row] {
        var rows: [String: Row] = [:]
        for event in events {
            for key in try keys(of: event) { rows[key] = try apply(event, to: rows[key], key: key) }
        }
        return rows
    }
}

@Suite(
    "PostgresEventStore read models",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .serialized,
    .timeLimit(.minutes(5))
)
struct PostgresReadModelTests {
    static func configuration(
        _ projections: [any ReadModelProjection], schema: String? = nil
    ) throws -> PostgresEventStore.Configuration {
        var configuration = try PostgresTestServer.configuration()
        if let schema { configuration.schema = schema }
        configuration.readModels = projections
        configuration.readModelBatchSize = 500
        return configuration
    }

    /// Every event of the log.
    static func log(of store: PostgresEventStore) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        while true {
            let page = try await store.readAll(after: events.last?.position ?? 0, limit: 5000)
            if page.isEmpty { return events }
            events += page
        }
    }

    /// Every row of the read model, by key, through the typed reader.
    static func rows(of projection: DepositTotals, in store: PostgresEventStore) async throws
        -> [String: DepositTotals.Row]
    {
        let reader = ReadModel(projection, in: store)
        var rows: [String: DepositTotals.Row] = [:]
        var after: String?
        while true {
            let page = try await reader.rows(matching: .keys(from: nil, before: nil, limit: 1000, after: after))
            for entry in page { rows[entry.key] = entry.value }
            guard let last = page.last else { return rows }
            after = last.key
        }
    }

    static func deposit(_ amount: Int) -> EventData {
        EventData(eventType: "Deposited", data: Data(#"{"amount":\#(amount)}"#.utf8))
    }

    @Test func inlineRowsAreVisibleWhenTheAppendReturnsAndQueriesFollowTheRules() async throws {
        let projection = DepositTotals()
        try await PostgresTestServer.withStore(configuration: Self.configuration([projection])) { store in
            let reader = ReadModel(projection, in: store)
            try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            _ = try await store.append([Self.deposit(5), Self.deposit(7)], to: "acct-b", expectedVersion: .noStream)
            #expect(try await reader.row("acct-b") == .init(deposits: 2, total: 12))
            _ = try await store.append([Self.deposit(1)], to: "acct-a", expectedVersion: .noStream)
            _ = try await store.append([Self.deposit(1)], to: "acct-\u{e9}", expectedVersion: .noStream)
            _ = try await store.append([Self.deposit(3)], to: "acct-B", expectedVersion: .noStream)
            #expect(try await reader.row("acct-a") == .init(deposits: 1, total: 1))
            #expect(try await reader.row("acct-zzz") == nil)

            // Keys in UTF-8 byte order: "acct-B" < "acct-a" < "acct-b" < "acct-é".
            let all = try await reader.rows()
            #expect(all.map(\.key) == ["acct-B", "acct-a", "acct-b", "acct-\u{e9}"])
            let range = try await reader.rows(matching: .keys(from: "acct-a", before: "acct-c"))
            #expect(range.map(\.key) == ["acct-a", "acct-b"])
            let indexed = try await reader.rows(matching: .indexed("mod-1"))
            #expect(indexed.map(\.key) == ["acct-B", "acct-a", "acct-\u{e9}"])
            let page = try await reader.rows(matching: .indexed("mod-1", limit: 1, after: "acct-B"))
            #expect(page.map(\.key) == ["acct-a"])
            let rows = try await store.readModelRows(named: projection.name, matching: ReadModelQuery())
            #expect(rows.allSatisfy { ReadModelQuery().matches($0) })
            await #expect(throws: ReadModelError.self) {
                try await reader.rows(matching: ReadModelQuery(limit: 0))
            }
            let unknown = await #expect(throws: ReadModelError.self) {
                try await store.readModelRow(named: "nope", key: "x")
            }
            #expect(unknown?.code == .unknownReadModel)
            let status = try await reader.status()
            #expect(status.state == .live && status.position == 5 && status.head == 5 && status.servedVersion == 1)
        }
    }

    @Test func aThrowingInlineProjectionFailsOnlyItsAppendAndWritesNothing() async throws {
        let projection = DepositTotals()
        try await PostgresTestServer.withStore(configuration: Self.configuration([projection])) { store in
            let reader = ReadModel(projection, in: store)
            try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            let results = await withTaskGroup(of: (String, Result<AppendResult, EventStoreError>).self) { group in
                for index in 0..<20 {
                    let stream = "acct-\(index)"
                    let events =
                        index % 5 == 0
                        ? [Self.deposit(1), EventData(eventType: "Poison", data: Data("{}".utf8))]
                        : [Self.deposit(index)]
                    group.addTask {
                        do {
                            return (stream, .success(try await store.append(events, to: StreamID(stream), expectedVersion: .noStream)))
                        } catch let error as EventStoreError {
                            return (stream, .failure(error))
                        } catch {
                            return (stream, .failure(EventStoreError(.storageFailure, message: "\(error)")))
                        }
                    }
                }
                var results: [String: Result<AppendResult, EventStoreError>] = [:]
                for await (stream, result) in group { results[stream] = result }
                return results
            }
            for index in 0..<20 {
                let stream = "acct-\(index)"
                if index % 5 == 0 {
                    guard case .failure(let error) = results[stream] else {
                        Issue.record("the append to \(stream) should have failed")
                        continue
                    }
                    #expect(error.code == .inlineProjectionFailed)
                    #expect(try await store.streamVersion(of: StreamID(stream)) == 0)
                    #expect(try await reader.row(stream) == nil)
                } else {
                    #expect((try? results[stream]?.get()) != nil)
                    #expect(try await reader.row(stream) == .init(deposits: 1, total: index))
                }
            }
            #expect(try await Self.rows(of: projection, in: store) == projection.fold(Self.log(of: store)))
        }
    }

    @Test func anAsyncReadModelCatchesUp() async throws {
        var projection = DepositTotals()
        projection.mode = .async
        try await PostgresTestServer.withStore(configuration: Self.configuration([projection])) { store in
            let reader = ReadModel(projection, in: store)
            for index in 0..<30 {
                _ = try await store.append(
                    [Self.deposit(index), Self.deposit(1)], to: StreamID("acct-\(index % 7)"), expectedVersion: .any)
            }
            let status = try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            #expect(status.position == 60 && status.state == .live)
            #expect(try await Self.rows(of: projection, in: store) == projection.fold(Self.log(of: store)))
        }
    }

    /// A wait for a read model read the head and the model's status with no bound but the store's own: with the
    /// server not answering, a wait given 200 ms (or zero) took the store's whole limit (10 s by default) and ended
    /// with `unavailable`.
    @Test func aWaitForAReadModelEndsAtItsTimeoutWhileTheServerDoesNotAnswer() async throws {
        let projection = DepositTotals()
        let direct = try Self.configuration([projection])
        try await PostgresTestServer.createTables(direct)
        let proxy = try await RowCuttingProxy.start(upstreamHost: direct.host, upstreamPort: direct.port)
        var proxied = direct
        proxied.host = "127.0.0.1"
        proxied.port = proxy.port
        // Far above the waits' own limits below; the store's close, whose steps are each bounded by the connection
        // limit, waits for the frozen connections that long.
        proxied.requestTimeout = .seconds(5)
        proxied.connectTimeout = .seconds(2)
        do {
            try await PostgresTestServer.withStartedStore(configuration: proxied) { store in
                _ = try await store.append([Self.deposit(5)], to: "acct-1", expectedVersion: .any)
                _ = try await store.waitForReadModel(named: projection.name, toReach: 1, timeout: TestPatience.success)
                // With the server answering: a zero timeout still reads the status, and a wait for a position the
                // model will not reach in time says where it is.
                let now = try await store.waitForReadModel(named: projection.name, toReach: 1, timeout: .zero)
                #expect(now.position == 1)
                let behind = await #expect(throws: ReadModelError.self) {
                    _ = try await store.waitForReadModel(
                        named: projection.name, toReach: 100, timeout: .milliseconds(200))
                }
                #expect(behind?.code == .timedOut)
                #expect(behind?.message.contains("did not reach position 100") == true, "\(String(describing: behind))")
                proxy.freezeExisting()
                proxy.silenceAfterStartup()
                let cases: [(UInt64?, Duration)] = [(1, .milliseconds(200)), (nil, .milliseconds(200)), (1, .zero)]
                for (reach, timeout) in cases {
                    let started = ContinuousClock.now
                    let error = await #expect(throws: ReadModelError.self) {
                        _ = try await store.waitForReadModel(named: projection.name, toReach: reach, timeout: timeout)
                    }
                    #expect(error?.code == .timedOut, "\(String(describing: error))")
                    #expect(error?.message.contains("did not answer") == true, "\(String(describing: error))")
                    // The timeout, the read's allowance and the cancelled read's end; below the store's own 5 s limit.
                    #expect(ContinuousClock.now - started < .seconds(4), "\(ContinuousClock.now - started)")
                }
                // The test's own connections (the schema's drop) go through the proxy too.
                proxy.answerNewConnections()
            }
        } catch {
            try await proxy.stop()
            throw error
        }
        try await proxy.stop()
    }

    @Test func aReadModelAddedToAStoreWithHistoryIsBackfilledWhileAppendsGoOn() async throws {
        let projection = DepositTotals()
        let schema = try PostgresTestServer.configuration().schema
        var plain = try Self.configuration([], schema: schema)
        plain.readModels = []
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: plain)) { store in
            // 5,000 events: ten backfill batches, for the appends below to meet, and few enough that a busy machine
            // backfills them in time.
            for batch in 0..<50 {
                _ = try await store.append(
                    (0..<100).map { Self.deposit(batch + $0) }, to: StreamID("acct-\(batch % 37)"),
                    expectedVersion: .any)
            }
        }
        let configuration = try Self.configuration([projection], schema: schema)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            let reader = ReadModel(projection, in: store)
            var sawBackfilling = false
            var appended = 0
            // Appends go on while the backfill runs, until it reports live.
            while true {
                _ = try await store.append([Self.deposit(appended)], to: "acct-live", expectedVersion: .any)
                appended += 1
                let status = try await reader.status()
                if status.state == .backfilling {
                    sawBackfilling = true
                    // Refused while the backfill runs; served only if it finished between the two calls.
                    do {
                        _ = try await reader.row("acct-1")
                        #expect(try await reader.status().state == .live, "a row was served during the backfill")
                    } catch is ReadModelError {}
                }
                if status.state == .live || appended == 2000 { break }
            }
            #expect(sawBackfilling)
            _ = try await store.append([Self.deposit(1)], to: "acct-live", expectedVersion: .any)
            try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            let log = try await Self.log(of: store)
            #expect(log.count >= 5_001)
            #expect(try await Self.rows(of: projection, in: store) == projection.fold(log))
        }
    }

    @Test func aRebuildSwapsAtomicallyAndReadersNeverSeeAPartialTable() async throws {
        let projection = DepositTotals()
        try await PostgresTestServer.withStore(configuration: Self.configuration([projection])) { store in
            let reader = ReadModel(projection, in: store)
            try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            for batch in 0..<40 {
                _ = try await store.append(
                    (0..<100).map { Self.deposit($0) }, to: StreamID("acct-\(batch)"), expectedVersion: .noStream)
            }
            let expected = try await projection.fold(Self.log(of: store))
            #expect(try await Self.rows(of: projection, in: store) == expected)
            try await store.rebuildReadModel(named: projection.name)
            #expect(try await reader.status().rebuild != nil)
            // Read the whole table in one query, again and again, until the rebuild is done.
            var reads = 0
            var sawRebuild = false
            while true {
                let status = try await reader.status()
                let rows = try await reader.rows(matching: ReadModelQuery(limit: 1000))
                #expect(Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0.value) }) == expected)
                reads += 1
                if status.rebuild != nil { sawRebuild = true } else { break }
                #expect(reads < 100_000)
                if reads >= 100_000 { break }
            }
            #expect(sawRebuild)
            let status = try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            #expect(status.rebuild == nil && status.state == .live)
            #expect(try await Self.rows(of: projection, in: store) == expected)
            _ = try await store.append([Self.deposit(9)], to: "acct-0", expectedVersion: .any)
            #expect(try await reader.row("acct-0")?.deposits == 101)
        }
    }

    /// A rebuild is reported started only once its transaction has committed: the update run alone would commit
    /// after being reported, so a commit that failed then (here a deferred constraint trigger; a server stopped at
    /// that moment) told the caller of a rebuild that never began.
    @Test func aRebuildWhoseCommitFailsIsNotReportedStarted() async throws {
        let projection = DepositTotals()
        let configuration = try Self.configuration([projection])
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            let reader = ReadModel(projection, in: store)
            _ = try await store.append([Self.deposit(5)], to: "acct-1", expectedVersion: .noStream)
            try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            let schema = "\"\(configuration.schema)\""
            try await PostgresTestServer.execute(
                """
                CREATE FUNCTION \(schema).refuse_rebuild() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.building_generation IS NOT NULL THEN RAISE EXCEPTION 'refused at commit'; END IF;
                    RETURN NULL;
                END $$
                """, configuration: configuration)
            try await PostgresTestServer.execute(
                """
                CREATE CONSTRAINT TRIGGER refuse_rebuild AFTER UPDATE ON \(schema).read_models
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION \(schema).refuse_rebuild()
                """, configuration: configuration)
            await #expect(throws: (any Error).self) { try await store.rebuildReadModel(named: projection.name) }
            #expect(try await reader.status().rebuild == nil)
            try await PostgresTestServer.execute(
                "DROP TRIGGER refuse_rebuild ON \(schema).read_models", configuration: configuration)
            try await store.rebuildReadModel(named: projection.name)
            try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            #expect(try await Self.rows(of: projection, in: store) == projection.fold(Self.log(of: store)))
        }
    }

    @Test func aNewVersionIsRebuiltWhileTheOldRowsAreServed() async throws {
        let schema = try PostgresTestServer.configuration().schema
        try await PostgresTestServer.withRunningStore(
            try PostgresEventStore(configuration: Self.configuration([DepositTotals()], schema: schema))
        ) { store in
            try await ReadModel(DepositTotals(), in: store).waitUntilCaughtUp(timeout: TestPatience.success)
            for index in 0..<10 {
                _ = try await store.append([Self.deposit(index)], to: StreamID("acct-\(index % 3)"), expectedVersion: .any)
            }
        }
        var second = DepositTotals()
        second.version = 2
        try await PostgresTestServer.withStore(configuration: Self.configuration([second], schema: schema)) { store in
            let reader = ReadModel(second, in: store)
            let status = try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            #expect(status.servedVersion == 2)
            #expect(try await Self.rows(of: second, in: store) == second.fold(Self.log(of: store)))
        }
    }

    /// In a rolling upgrade a process with the older version of a read model must not take over the newer
    /// version's build (nor fold it with its own code): it leaves the read model to the newer processes.
    @Test func aProcessWithAnOlderVersionLeavesTheNewerBuildAlone() async throws {
        let configuration = try Self.configuration([DepositTotals()])
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store in
            try await ReadModel(DepositTotals(), in: store).waitUntilCaughtUp(timeout: TestPatience.success)
            for index in 0..<5 {
                _ = try await store.append([Self.deposit(index)], to: "acct-a", expectedVersion: .any)
            }
        }
        // A process with version 2 registered its build and went away before it finished.
        try await PostgresTestServer.execute(
            """
            UPDATE "\(configuration.schema)".read_models
            SET building_generation = next_generation, building_version = 2, building_position = 0,
                next_generation = next_generation + 1
            WHERE name = 'deposit-totals'
            """, configuration: configuration)
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store in
            // The store registers its read models before it answers.
            _ = try await store.headPosition()
            // Nor does its rebuild replace the newer build.
            do {
                try await store.rebuildReadModel(named: "deposit-totals")
                Issue.record("a version-1 rebuild replaced the version-2 build")
            } catch let error as ReadModelError {
                #expect(error.code == .invalidVersion, "\(error)")
            }
        }
        let connection = try await PostgresTestServer.connect(configuration, id: 1)
        var building: [Int32?] = []
        for try await version in try await connection.query(
            "SELECT building_version FROM \(unescaped: "\"\(configuration.schema)\"").read_models WHERE name = 'deposit-totals'",
            logger: Logger(label: "test")
        ).decode(Int32?.self) {
            building.append(version)
        }
        try await connection.close()
        #expect(building == [2], "the version-1 process restarted the version-2 build as its own")
        try await PostgresTestServer.dropSchema(configuration)
    }

    /// Creates a store as the code of store schema version 2 did and appends through its function.
    private static func makeVersionTwoStore(_ configuration: PostgresEventStore.Configuration) async throws {
        let quoted = "\"\(configuration.schema)\""
        var statements = [
            "CREATE SCHEMA \(quoted)",
            "CREATE TABLE \(quoted).schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        ]
        statements += (PostgresSchema.migrations[0] + PostgresSchema.migrations[1]).map {
            $0.replacingOccurrences(of: "{schema}", with: quoted)
                .replacingOccurrences(of: "{channel}", with: "whizbang_\(configuration.schema)")
                .replacingOccurrences(of: "{name}", with: configuration.schema)
        }
        statements += [
            "INSERT INTO \(quoted).schema_version (version) VALUES (1), (2)",
            """
            SELECT * FROM \(quoted).append_batch(
                ARRAY['acct-old'], ARRAY[-2]::bigint[], ARRAY[2],
                ARRAY['0190a000-0000-7000-8000-000000000001', '0190a000-0000-7000-8000-000000000002']::uuid[],
                ARRAY['Deposited', 'Deposited'],
                ARRAY[convert_to('{"amount":4}', 'UTF8'), convert_to('{"amount":6}', 'UTF8')],
                ARRAY[''::bytea, ''::bytea], ARRAY[1, 1])
            """,
        ]
        for statement in statements {
            try await PostgresTestServer.execute(statement, configuration: configuration)
        }
    }

    /// In a schema at version 2 the store never made a `read_models` table: one of that name is someone else's,
    /// and dropping the store's tables must refuse and leave everything as it was.
    @Test func dropStoreTablesLeavesAReadModelsTableTheStoreDidNotMake() async throws {
        let configuration = try Self.configuration([])
        try await Self.makeVersionTwoStore(configuration)
        try await PostgresTestServer.execute(
            "CREATE TABLE \"\(configuration.schema)\".read_models (note text)", configuration: configuration)
        do {
            try await PostgresEventStore.dropStoreTables(configuration: configuration)
            Issue.record("the tables were dropped with a read_models table of someone else's in the schema")
        } catch let error as EventStoreError {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("read_models"), "\(error)")
        }
        let schema = try await PostgresEventStore.inspectSchema(configuration: configuration)
        #expect(schema.holdsStore && schema.otherObjects == ["read_models"])
        try await PostgresTestServer.execute(
            "DROP TABLE \"\(configuration.schema)\".read_models", configuration: configuration)
        try await PostgresEventStore.dropStoreTables(configuration: configuration)
        try await PostgresTestServer.dropSchema(configuration)
    }

    @Test func aVersionTwoStoreWithEventsMigratesToThreeAndBackfills() async throws {
        let projection = DepositTotals()
        let configuration = try Self.configuration([projection])
        try await Self.makeVersionTwoStore(configuration)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            let reader = ReadModel(projection, in: store)
            try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            #expect(try await reader.row("acct-old") == .init(deposits: 2, total: 10))
            // A retry of the stored events is idempotent and is not folded twice.
            let retry = [
                EventData(
                    eventID: MessageID(UUID(uuidString: "0190a000-0000-7000-8000-000000000001")!),
                    eventType: "Deposited", data: Data(#"{"amount":4}"#.utf8)),
                EventData(
                    eventID: MessageID(UUID(uuidString: "0190a000-0000-7000-8000-000000000002")!),
                    eventType: "Deposited", data: Data(#"{"amount":6}"#.utf8)),
            ]
            _ = try await store.append(retry, to: "acct-old", expectedVersion: .noStream)
            _ = try await store.append([Self.deposit(5)], to: "acct-old", expectedVersion: .exact(2))
            #expect(try await reader.row("acct-old") == .init(deposits: 3, total: 15))
            let versions = try await store.withConnection { connection, logger in
                try await connection.query("SELECT max(version) FROM schema_version", logger: logger)
                    .collect().first?.decode(Int32.self)
            }
            #expect(versions == PostgresSchema.currentVersion)
        }
    }

    @Test func anInlineReadModelLeftBehindByAnotherProcessIsCaughtUpNotSkipped() async throws {
        let projection = DepositTotals()
        var configuration = try Self.configuration([projection])
        // No look at the state on a timer: only the store's own appends and wake-ups move the follower.
        configuration.readModelPollInterval = .seconds(3600)
        var without = configuration
        without.readModels = []
        let keeping = try PostgresEventStore(configuration: configuration)
        let ignoring = try PostgresEventStore(configuration: without)
        try await PostgresTestServer.withRunningStore(keeping) { keeping in
            try await PostgresTestServer.withRunningStore(ignoring) { ignoring in
                let reader = ReadModel(projection, in: keeping)
                _ = try await keeping.append([Self.deposit(1)], to: "acct-a", expectedVersion: .noStream)
                #expect(try await reader.row("acct-a") == .init(deposits: 1, total: 1))
                // An append by a process that does not keep the read model leaves it behind ...
                _ = try await ignoring.append([Self.deposit(10)], to: "acct-a", expectedVersion: .exact(1))
                // ... and the next append here must not fold into rows that miss that event.
                _ = try await keeping.append([Self.deposit(100)], to: "acct-a", expectedVersion: .exact(2))
                try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
                #expect(try await reader.row("acct-a") == .init(deposits: 3, total: 111))
            }
        }
        try await PostgresTestServer.dropSchema(configuration)
    }

    @Test(arguments: [ReadModelMode.inline, .async])
    func twoStoresOnOneSchemaApplyEachEventOnce(mode: ReadModelMode) async throws {
        var projection = DepositTotals()
        projection.mode = mode
        let configuration = try Self.configuration([projection])
        let first = try PostgresEventStore(configuration: configuration)
        let second = try PostgresEventStore(configuration: configuration)
        try await PostgresTestServer.withRunningStore(first) { first in
            try await PostgresTestServer.withRunningStore(second) { second in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (offset, store) in [first, second].enumerated() {
                        group.addTask {
                            for index in 0..<200 {
                                _ = try await store.append(
                                    [Self.deposit(index)], to: StreamID("acct-\((index + offset) % 11)"),
                                    expectedVersion: .any)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                for store in [first, second] {
                    try await ReadModel(projection, in: store).waitUntilCaughtUp(timeout: TestPatience.success)
                    let log = try await Self.log(of: store)
                    #expect(log.count == 400)
                    #expect(try await Self.rows(of: projection, in: store) == projection.fold(log))
                }
            }
        }
        try await PostgresTestServer.dropSchema(configuration)
    }
}

/// The cost of one inline read model on the append path: rounds of concurrent appends to a store without read models
/// and to one with ``DepositTotals``, alternated (ABBA) on one server. Runs only with `WHIZBANG_READ_MODEL_BENCH=1`
/// and prints the rates; BENCHMARKS.md has the numbers. It checks that the rows equal a fold of the log.
@Suite(
    "PostgresEventStore inline read model cost",
    .enabled(if: PostgresTestServer.url != nil && ProcessInfo.processInfo.environment["WHIZBANG_READ_MODEL_BENCH"] == "1"),
    .serialized,
    .timeLimit(.minutes(10))
)
struct PostgresReadModelCostTests {
    @Test func appendsWithAndWithoutAnInlineReadModel() async throws {
        let appenders = 16
        let appendsEach = 250
        var rates: [(withReadModel: Bool, eventsPerSecond: Double)] = []
        for round in 0..<8 {
            let withReadModel = [false, true, true, false][round % 4]
            var configuration = try PostgresTestServer.configuration()
            configuration.readModels = withReadModel ? [DepositTotals()] : []
            let clock = ContinuousClock()
            let elapsed = try await PostgresTestServer.withStore(configuration: configuration) { store in
                _ = try await store.headPosition()
                let elapsed = try await clock.measure {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for appender in 0..<appenders {
                            group.addTask {
                                for index in 0..<appendsEach {
                                    _ = try await store.append(
                                        [EventData(eventType: "Deposited", data: Data(#"{"amount":\#(index)}"#.utf8))],
                                        to: StreamID("acct-\(appender)-\(index % 50)"), expectedVersion: .any)
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                if withReadModel {
                    var log: [RecordedEvent] = []
                    while true {
                        let page = try await store.readAll(after: log.last?.position ?? 0, limit: 5000)
                        if page.isEmpty { break }
                        log += page
                    }
                    let projection = DepositTotals()
                    let expected = try projection.fold(log)
                    let rows = try await ReadModel(projection, in: store).rows(matching: ReadModelQuery(limit: 10_000))
                    #expect(Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0.value) }) == expected)
                }
                return elapsed
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            rates.append((withReadModel, Double(appenders * appendsEach) / seconds))
            print("round \(round) \(withReadModel ? "inline read model" : "no read model    "): "
                + "\(Int(Double(appenders * appendsEach) / seconds)) appends/s")
        }
        let without = rates.filter { !$0.withReadModel }.map(\.eventsPerSecond)
        let with = rates.filter(\.withReadModel).map(\.eventsPerSecond)
        let ratio = (with.reduce(0, +) / Double(with.count)) / (without.reduce(0, +) / Double(without.count))
        print("inline read model ÷ none, mean appends/s: \(ratio)")
    }
}
