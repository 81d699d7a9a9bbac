import Foundation
import Logging
import PostgresNIO
import Testing
@testable import WhizbangPostgres

/// A server that does not answer, a lost connection and a server that is gone: every call returns within the
/// deadline with the retryable `unavailable`, and the store goes on once the server answers again.
@Suite(
    "PostgresEventStore deadlines and outages",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .serialized,
    .timeLimit(.minutes(5))
)
struct PostgresDeadlineTests {
    /// A request's deadline covers leasing a connection, which may mean connecting and authenticating: 3 s leaves
    /// room for that on a loaded CI machine, where 1 s failed the store's start. The tables are made first, under
    /// longer limits: what these tests measure is calls, not a migration.
    static func configuration(requestTimeout: Duration = .seconds(3)) async throws -> PostgresEventStore.Configuration {
        var configuration = try PostgresTestServer.configuration()
        configuration.requestTimeout = requestTimeout
        try await PostgresTestServer.createTables(configuration)
        return configuration
    }

    @Test func aBatchThatMissesTheDeadlineFailsUnavailableAndTheWriterGoesOn() async throws {
        let configuration = try await Self.configuration()
        try await PostgresTestServer.withStartedStore(configuration: configuration) { store in
            // Setup, not what is measured: on a starved machine the first connection can miss the 3 s deadline.
            try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .noStream, store: store)
            let lock = try await PostgresTableLock.lockEvents(of: configuration)
            let events = makeEvents(2)
            let clock = ContinuousClock()
            let started = clock.now
            let (error, lateness) = await PoolLateness.measure {
                await expectError(.unavailable) {
                    _ = try await store.append(events, to: "s", expectedVersion: .exact(1))
                }
            }
            #expect(error?.message.contains("did not answer within") == true, "\(String(describing: error))")
            #expect(
                clock.now - started < configuration.requestTimeout + .seconds(3) + PoolLateness.allowance(lateness),
                "the pool ran up to \(lateness) late")
            // Reads are bounded by the same deadline.
            await expectError(.unavailable) { _ = try await store.readAll(after: 0, limit: 10) }
            try await lock.releaseEndingWaiters()

            // The same append again stores the events once (had the failed batch committed, it would say so).
            let retried = try await appendRetrying(events, to: "s", expectedVersion: .exact(1), store: store)
            #expect(retried.streamVersion == 3)
            let stored = try await store.readStream("s", from: 1, direction: .forwards, limit: 10)
            #expect(stored.map(\.eventID) == [stored[0].eventID] + events.map(\.eventID))
            // The writer went on: later appends commit.
            try await appendRetrying(makeEvents(1), to: "t", expectedVersion: .noStream, store: store)
            #expect(try await store.headPosition() == 4)
        }
    }

    /// Before, each queued append waited for a deadline of its own batch in turn: with one append per batch, the
    /// fourth failed after four deadlines.
    @Test func appendsQueuedBehindABatchThatMissesTheDeadlineFailWithIt() async throws {
        var configuration = try await Self.configuration()
        configuration.maximumBatchSize = 1
        try await PostgresTestServer.withStartedStore(configuration: configuration) { store in
            try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .noStream, store: store)
            let lock = try await PostgresTableLock.lockEvents(of: configuration)
            let clock = ContinuousClock()
            let (outcomes, lateness) = await PoolLateness.measure {
                await withTaskGroup(of: (EventStoreError.Code?, Duration).self) { group in
                    for index in 0..<4 {
                        group.addTask {
                            // Each append is timed from its own call: on a loaded machine a task can start late, and
                            // that wait is not the store's.
                            let started = clock.now
                            do {
                                _ = try await store.append(
                                    makeEvents(1), to: StreamID("q-\(index)"), expectedVersion: .noStream)
                                return (nil, clock.now - started)
                            } catch {
                                return ((error as? EventStoreError)?.code, clock.now - started)
                            }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
            }
            try await lock.releaseEndingWaiters()
            #expect(outcomes.allSatisfy { $0.0 == .unavailable }, "\(outcomes)")
            let slowest = outcomes.map(\.1).max() ?? .zero
            #expect(
                slowest < configuration.requestTimeout * 2 + PoolLateness.allowance(lateness),
                "\(outcomes), the pool ran up to \(lateness) late")
        }
    }

    /// Batches that each commit, but slowly (a trigger that sleeps, as a lock held elsewhere or a slow disk would),
    /// expired nothing: with one append per batch, the twelfth of twelve waited eleven batches, far past its
    /// deadline, and the queue had no bound.
    @Test func appendsQueuedBehindSlowBatchesFailAtTheirDeadline() async throws {
        var configuration = try await Self.configuration(requestTimeout: .seconds(2))
        configuration.maximumBatchSize = 1
        try await PostgresTestServer.withStartedStore(configuration: configuration) { store in
            try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .noStream, store: store)
            let schema = "\"\(configuration.schema)\""
            try await PostgresTestServer.execute(
                """
                CREATE FUNCTION \(schema).slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_sleep(0.6); RETURN NEW; END $$
                """, configuration: configuration)
            try await PostgresTestServer.execute(
                """
                CREATE TRIGGER slow_insert BEFORE INSERT ON \(schema).events
                    FOR EACH ROW EXECUTE FUNCTION \(schema).slow_insert()
                """, configuration: configuration)
            let clock = ContinuousClock()
            let started = clock.now
            let (outcomes, lateness) = await PoolLateness.measure {
                await withTaskGroup(of: (EventStoreError?, Duration).self) { group in
                    for index in 0..<12 {
                        group.addTask {
                            do {
                                _ = try await store.append(
                                    makeEvents(1), to: StreamID("slow-\(index)"), expectedVersion: .noStream)
                                return (nil, clock.now - started)
                            } catch {
                                return (error as? EventStoreError, clock.now - started)
                            }
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
            }
            let failed = outcomes.compactMap(\.0)
            // At 0.6 s a batch, the appends still queued 2 s after they were sent fail, unsent.
            #expect(!failed.isEmpty && failed.allSatisfy { $0.code == .unavailable }, "\(outcomes)")
            #expect(failed.allSatisfy { $0.message.contains("was not sent") }, "\(failed)")
            let slowest = outcomes.map(\.1).max() ?? .zero
            #expect(
                slowest < configuration.requestTimeout * 2 + PoolLateness.allowance(lateness),
                "\(outcomes), the pool ran up to \(lateness) late")
            // Only the appends that succeeded are in the log, after the first one.
            let head = try await store.headPosition()
            #expect(head == UInt64(1 + outcomes.count - failed.count))
        }
    }

    /// Waiting for a connection is bounded by `connectTimeout`, not by the much longer `requestTimeout`: the pool's
    /// two connections are taken (an append and a read, both blocked on a lock), so a third call gets none.
    @Test func leasingAConnectionIsBoundedByTheConnectTimeout() async throws {
        var configuration = try await Self.configuration(requestTimeout: .seconds(120))
        // Long enough for the setup's own connections on a loaded machine; the bounded wait is what is measured.
        configuration.connectTimeout = .seconds(5)
        configuration.maximumConnections = 2
        try await PostgresTestServer.withStartedStore(configuration: configuration) { store in
            try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .noStream, store: store)
            let lock = try await PostgresTableLock.lockEvents(of: configuration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Each holds one of the pool's two connections until the lock's waiters are ended.
                group.addTask { _ = try? await store.append(makeEvents(1), to: "s", expectedVersion: .exact(1)) }
                _ = try await lock.waitingBackends(atLeast: 1)
                group.addTask { _ = try? await store.readAll(after: 0, limit: 10) }
                _ = try await lock.waitingBackends(atLeast: 2)
                let clock = ContinuousClock()
                let started = clock.now
                let (error, lateness) = await PoolLateness.measure {
                    await expectError(.unavailable) { _ = try await store.streamVersion(of: "s") }
                }
                #expect(
                    error?.message.contains("no connection within 5.0 seconds") == true, "\(String(describing: error))")
                #expect(
                    clock.now - started < configuration.connectTimeout + .seconds(3) + PoolLateness.allowance(lateness),
                    "the pool ran up to \(lateness) late")
                try await lock.releaseEndingWaiters()
                try await group.waitForAll()
            }
            try await appendRetrying(makeEvents(1), to: "t", expectedVersion: .noStream, store: store)
        }
    }

    /// A statement is bounded by `requestTimeout` once it holds a connection, however long `connectTimeout` is.
    @Test func aStatementIsBoundedByTheRequestTimeoutNotTheConnectTimeout() async throws {
        var configuration = try await Self.configuration(requestTimeout: .seconds(3))
        configuration.connectTimeout = .seconds(120)
        try await PostgresTestServer.withStartedStore(configuration: configuration) { store in
            try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .noStream, store: store)
            let lock = try await PostgresTableLock.lockEvents(of: configuration)
            let clock = ContinuousClock()
            let started = clock.now
            let (error, lateness) = await PoolLateness.measure {
                await expectError(.unavailable) { _ = try await store.readAll(after: 0, limit: 10) }
            }
            #expect(
                error?.message.contains("did not answer within 3.0 seconds") == true, "\(String(describing: error))")
            #expect(
                clock.now - started < configuration.requestTimeout + .seconds(3) + PoolLateness.allowance(lateness),
                "the pool ran up to \(lateness) late")
            try await lock.releaseEndingWaiters()
        }
    }

    /// Before, a cancelled call waited for its statement, which behind a lock does not notice the cancellation: it
    /// returned when the 120 s request timeout closed the connection.
    @Test func aCancelledCallReturnsAtOnceWhileItsStatementWaitsForALock() async throws {
        let configuration = try await Self.configuration(requestTimeout: .seconds(120))
        try await PostgresTestServer.withStartedStore(configuration: configuration) { store in
            try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .noStream, store: store)
            let lock = try await PostgresTableLock.lockEvents(of: configuration)
            let read = Task { try await store.readAll(after: 0, limit: 10) }
            _ = try await lock.waitingBackend()
            let clock = ContinuousClock()
            let cancelled = clock.now
            let (outcome, lateness) = await PoolLateness.measure {
                read.cancel()
                return await read.result
            }
            #expect(throws: CancellationError.self) { try outcome.get() }
            #expect(
                clock.now - cancelled < .seconds(3) + PoolLateness.allowance(lateness),
                "the pool ran up to \(lateness) late")
            try await lock.releaseEndingWaiters()
            // The store goes on: the connection that was closed is replaced.
            let events = try await store.readAll(after: 0, limit: 10)
            #expect(events.count == 1)
        }
    }

    /// A server that accepts the connection and never answers: starting the store fails within `connectTimeout`,
    /// whatever `requestTimeout` says.
    @Test func aServerThatNeverAnswersFailsTheStartWithinTheConnectTimeout() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        var configuration = try PostgresTestServer.configuration()
        configuration.requestTimeout = .seconds(120)
        configuration.host = "127.0.0.1"
        configuration.port = listener.port
        configuration.connectTimeout = .seconds(1)
        let store = try PostgresEventStore(configuration: configuration)
        let clock = ContinuousClock()
        let started = clock.now
        let (error, lateness) = await PoolLateness.measure {
            await expectError(.unavailable) { try await store.run() }
        }
        #expect(error?.message.hasPrefix("cannot reach PostgreSQL at 127.0.0.1:") == true, "\(String(describing: error))")
        #expect(
            clock.now - started < configuration.connectTimeout + .seconds(3) + PoolLateness.allowance(lateness),
            "the pool ran up to \(lateness) late")
    }

    @Test func aLostConnectionIsUnavailableNotClosed() async throws {
        let configuration = try await Self.configuration(requestTimeout: .seconds(5))
        try await PostgresTestServer.withStartedStore(configuration: configuration) { store in
            try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .noStream, store: store)
            let lock = try await PostgresTableLock.lockEvents(of: configuration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let error = await expectError(.unavailable) {
                        _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .exact(1))
                    }
                    #expect(error?.message.contains("whizbang-test-password") == false)
                }
                try await lock.terminate(try await lock.waitingBackend())
                try await group.waitForAll()
            }
            try await lock.release()
            try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .any, store: store)
            #expect(try await store.streamVersion(of: "s") >= 2)
        }
    }

    @Test func aStatementTimeoutFailsUnavailableWithTheServersWords() async throws {
        var configuration = try await Self.configuration(requestTimeout: .seconds(30))
        configuration.statementTimeout = .milliseconds(200)
        try await PostgresTestServer.createTables(configuration)
        try await PostgresTestServer.withStartedStore(configuration: configuration) { store in
            try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .noStream, store: store)
            let lock = try await PostgresTableLock.lockEvents(of: configuration)
            let error = await expectError(.unavailable) { _ = try await store.readAll(after: 0, limit: 10) }
            #expect(error?.message.contains("57014") == true, "\(String(describing: error))")
            // Neither the statement's text nor its values.
            #expect(error?.message.contains("SELECT") == false)
            try await lock.release()
        }
    }

    @Test func anUnreachableServerIsNamedInTheError() async throws {
        var configuration = try PostgresTestServer.configuration()
        configuration.requestTimeout = .seconds(3)
        configuration.host = "127.0.0.1"
        configuration.port = 1
        configuration.connectTimeout = .seconds(2)
        let store = try PostgresEventStore(configuration: configuration)
        let clock = ContinuousClock()
        let started = clock.now
        let (error, lateness) = await PoolLateness.measure {
            await expectError(.unavailable) { try await store.run() }
        }
        #expect(
            error?.message.hasPrefix("cannot reach PostgreSQL at 127.0.0.1:1: ") == true, "\(String(describing: error))")
        #expect(
            clock.now - started < configuration.connectTimeout + .seconds(3) + PoolLateness.allowance(lateness),
            "the pool ran up to \(lateness) late")
    }

    @Test(arguments: [PostgresEventStore.Configuration.Durability.full, .normal])
    func durabilityOverridesTheRolesSynchronousCommit(_ durability: PostgresEventStore.Configuration.Durability)
        async throws
    {
        var configuration = try PostgresTestServer.configuration()
        let role = "whizbang_" + configuration.schema
        try await PostgresTestServer.execute(
            "CREATE ROLE \(role) LOGIN SUPERUSER PASSWORD 'role-password'", configuration: configuration)
        try await PostgresTestServer.execute(
            "ALTER ROLE \(role) SET synchronous_commit = off", configuration: configuration)
        configuration.username = role
        configuration.password = "role-password"
        configuration.durability = durability
        let outcome: Result<(String?, String?), any Error>
        do {
            outcome = .success(try await Self.synchronousCommitSettings(configuration))
        } catch {
            outcome = .failure(error)
        }
        try await PostgresTestServer.execute("DROP ROLE \(role)", configuration: try PostgresTestServer.configuration())
        let (roleSetting, storeSetting) = try outcome.get()
        // A plain connection of the role gets the role's setting; the store's connections get the durability's.
        #expect(roleSetting == "off")
        #expect(storeSetting == (durability == .full ? "on" : "off"))
    }

    /// `synchronous_commit` on a plain connection of the configuration's role, and on a connection of the store's
    /// pool.
    private static func synchronousCommitSettings(
        _ configuration: PostgresEventStore.Configuration
    ) async throws -> (String?, String?) {
        let logger = Logger(label: "whizbang.postgres.tests")
        let plainConnection = try await PostgresTestServer.connect(configuration, id: 3)
        let roleSetting = try await plainConnection.query("SHOW synchronous_commit", logger: logger).collect()
        try await plainConnection.close()

        let client = PostgresClient(configuration: configuration.clientConfiguration, backgroundLogger: logger)
        let storeSetting = try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            let rows = try await client.query("SHOW synchronous_commit", logger: logger).collect()
            group.cancelAll()
            return try rows.first?.decode(String.self)
        }
        return (try roleSetting.first?.decode(String.self), storeSetting)
    }
}
