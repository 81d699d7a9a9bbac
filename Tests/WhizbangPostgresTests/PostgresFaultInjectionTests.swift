import Foundation
import Synchronization
import Testing
import WhizbangPostgres

/// The store under a server that crashes, restarts and stalls while 64 appenders and a subscription use it.
///
/// Runs only from `scripts/fault-test.sh`, which starts a PostgreSQL server this test may kill and names it in
/// `WHIZBANG_FAULT_POSTGRES_URL`, `WHIZBANG_FAULT_POSTGRES_DIR` and `WHIZBANG_FAULT_PORT`. The role runs with
/// `synchronous_commit = off`, so that only the store's `full` durability keeps acknowledged appends across crashes.
@Suite(
    "PostgreSQL fault injection",
    .enabled(if: FaultServer.current != nil, "run scripts/fault-test.sh"),
    .timeLimit(.minutes(10))
)
struct PostgresFaultInjectionTests {
    static let crashes = 20
    static let stalls = 2
    static let requestTimeout: Duration = .seconds(2)
    static let connectTimeout: Duration = .seconds(2)
    /// A call that has not returned this long after it began is hung. An append can wait for the batch ahead of it
    /// and then run its own, each leasing a connection (up to `connectTimeout`) and then running (up to
    /// `requestTimeout`); 5 s more leave a loaded machine room.
    static let hungAfter: Duration = (connectTimeout + requestTimeout) * 2 + .seconds(5)

    @Test func appendsAndASubscriptionRideOutCrashesAndStalls() async throws {
        let server = try #require(FaultServer.current)
        var configuration = try PostgresEventStore.Configuration(url: server.url)
        configuration.schema = "faults"
        configuration.durability = .full
        configuration.requestTimeout = Self.requestTimeout
        configuration.connectTimeout = Self.connectTimeout
        configuration.maximumConnections = 12
        configuration.maximumRetryDelay = .milliseconds(200)
        try await PostgresTestServer.execute(
            "ALTER ROLE CURRENT_USER SET synchronous_commit = off", configuration: configuration)
        try await PostgresEventStore.dropSchema(configuration: configuration)

        let store = try PostgresEventStore(configuration: configuration)
        let tally = FaultTally()
        let runner = Task { try await store.run() }
        // The faults begin once the store has started.
        _ = try await Self.retrying(tally, afterStop: true) {
            try await store.append(makeEvents(1), to: "warm-up", expectedVersion: .any)
        }
        let subscriber = Task { try await Self.follow(store, tally: tally) }
        var appenders: [Task<Void, Never>] = []
        for index in 0..<64 {
            appenders.append(
                Task {
                    if index < 32 {
                        await Self.appendToOwnStream(StreamID("own-\(index)"), store: store, tally: tally)
                    } else {
                        await Self.appendToHotStream(StreamID("hot-\(index % 4)"), store: store, tally: tally)
                    }
                })
        }

        var crashes = 0
        var stalls = 0
        for cycle in 0..<(Self.crashes + Self.stalls) {
            // The stalls come in the middle of the run, each longer than the request deadline.
            if cycle == Self.crashes / 3 || cycle == 2 * Self.crashes / 3 {
                try await server.run(["stall", "\(Self.requestTimeout.components.seconds + 2)"])
                stalls += 1
            } else {
                try await server.run(["crash"])
                crashes += 1
            }
            tally.checkHung(after: Self.hungAfter)
        }
        // Long enough for a call begun before the last fault to be counted as hung if it never returns.
        try await server.run(["settle", "\(Self.hungAfter.components.seconds + 1)"])
        tally.checkHung(after: Self.hungAfter)
        tally.stop()
        for appender in appenders { await appender.value }

        // A last append, after every other, wakes the subscription, which stops when it has delivered it.
        let head = try await Self.retrying(tally, afterStop: true) { try await store.headPosition() }
        tally.setTarget(head + 1)
        let marker = makeEvents(1)
        let appended = try await Self.retrying(tally, afterStop: true) {
            try await store.append(marker, to: "marker", expectedVersion: .any)
        }
        #expect(appended.positions == (head + 1)..<(head + 2))
        try await subscriber.value

        let log = try await Self.readWholeLog(store, tally: tally)
        store.close()
        try await runner.value
        try await PostgresTestServer.execute(
            "ALTER ROLE CURRENT_USER RESET synchronous_commit", configuration: configuration)

        let report = tally.report(crashes: crashes, stalls: stalls)
        print("fault test: \(report.summary)")
        #expect(crashes >= 20 && stalls == 2)
        #expect(report.hung == 0)
        #expect(report.unexpectedErrors.isEmpty, "\(report.unexpectedErrors.prefix(5))")
        #expect(report.acked.count > 1000, "too few appends went through to judge")
        #expect(report.retried > 0, "no call failed: the faults did not reach the store")

        // Every acknowledged event is in the log, at the acknowledged place, and no event is there twice.
        let byID = Dictionary(log.map { ($0.eventID, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byID.count == log.count, "an event id is in the log twice")
        var missing = 0
        var examples: [String] = []
        for acked in report.acked {
            let stored = byID[acked.eventID]
            guard let stored, stored.streamID == acked.streamID, stored.position == acked.position,
                stored.streamVersion == acked.version
            else {
                missing += 1
                if examples.count < 5 {
                    // What a failure needs to be understood: where the ack said, where the event is, what is there.
                    let there = acked.position >= 1 && acked.position <= UInt64(log.count) ? log[Int(acked.position) - 1] : nil
                    examples.append(
                        "acked \(acked.eventID) at \(acked.streamID) v\(acked.version) p\(acked.position); stored "
                            + (stored.map { "at \($0.streamID) v\($0.streamVersion) p\($0.position)" } ?? "nowhere")
                            + "; at p\(acked.position): "
                            + (there.map { "\($0.eventID) \($0.streamID) v\($0.streamVersion)" } ?? "nothing"))
                }
                continue
            }
        }
        #expect(missing == 0, "\(missing) acknowledged events are missing or elsewhere: \(examples)")
        // Positions and each stream's versions are contiguous.
        #expect(log.map(\.position) == Array(1...UInt64(log.count)))
        var versions: [StreamID: UInt64] = [:]
        var gaps = 0
        for event in log {
            let expected = (versions[event.streamID] ?? 0) + 1
            if event.streamVersion != expected { gaps += 1 }
            versions[event.streamID] = event.streamVersion
        }
        #expect(gaps == 0, "\(gaps) events break their stream's version sequence")
        // The subscription delivered the whole log, once and in order.
        #expect(report.subscribed == log.map(\.eventID), "the subscription did not deliver the log exactly once")
    }

    /// Appends one to three events at a time to a stream of its own, expecting any version; after `unavailable`
    /// it sends the same events again, which the store recognises if the first attempt committed.
    static func appendToOwnStream(_ stream: StreamID, store: PostgresEventStore, tally: FaultTally) async {
        var round = 0
        while !tally.isStopped {
            round += 1
            let events = makeEvents(1 + round % 3)
            guard let result = try? await retrying(tally, { try await store.append(events, to: stream, expectedVersion: .any) })
            else { return }
            tally.acknowledge(events, result: result)
        }
    }

    /// Appends to a stream that eight appenders share, expecting the exact version it read; after a conflict it
    /// reads the version again, after `unavailable` it sends the same append again.
    static func appendToHotStream(_ stream: StreamID, store: PostgresEventStore, tally: FaultTally) async {
        while !tally.isStopped {
            let events = makeEvents(1)
            var outcome: AppendResult? = nil
            while outcome == nil, !tally.isStopped {
                guard let version = try? await retrying(tally, { try await store.streamVersion(of: stream) }) else {
                    return
                }
                do {
                    outcome = try await retrying(tally) {
                        try await store.append(events, to: stream, expectedVersion: .exact(version))
                    }
                } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
                    tally.conflict()
                } catch let error as EventStoreError where error.code == .duplicateEventID {
                    // An attempt that failed with `unavailable` committed after all, behind a conflict.
                    tally.settledEarlier()
                    break
                } catch {
                    return
                }
            }
            if let outcome { tally.acknowledge(events, result: outcome) }
        }
    }

    /// Runs `call` until it returns or fails with something other than `unavailable`; counts each call, its
    /// duration and its failures. Throws `CancellationError` once the tally has stopped and the call failed, unless
    /// `afterStop`.
    static func retrying<Result: Sendable>(
        _ tally: FaultTally, afterStop: Bool = false, _ call: () async throws -> Result
    ) async throws -> Result {
        while true {
            let ticket = tally.begin()
            do {
                let result = try await call()
                tally.end(ticket, error: nil)
                return result
            } catch let error as EventStoreError where error.code == .unavailable {
                tally.end(ticket, error: nil)
                tally.retried()
                if tally.isStopped && !afterStop { throw CancellationError() }
                // A call that fails at once (the pool's circuit breaker) must not keep the other tasks, or the store's
                // deadline timer, from running: 64 callers trying again without a pause fill both cores.
                try await Task.sleep(for: .milliseconds(10))
            } catch {
                tally.end(ticket, error: error)
                throw error
            }
        }
    }

    /// Follows the log from the start until the tally's target position, recording each event id.
    static func follow(_ store: PostgresEventStore, tally: FaultTally) async throws {
        var subscription = store.subscribe(after: 0, batchSize: 200).makeAsyncIterator()
        while let event = try await subscription.next() {
            tally.subscribed(event.eventID)
            if let target = tally.target, event.position >= target { break }
        }
        tally.subscriptionRetries(subscription.retries)
    }

    static func readWholeLog(_ store: PostgresEventStore, tally: FaultTally) async throws -> [RecordedEvent] {
        var log: [RecordedEvent] = []
        while true {
            let after = log.last?.position ?? 0
            let batch = try await retrying(tally, afterStop: true) { try await store.readAll(after: after, limit: 5000) }
            if batch.isEmpty { return log }
            log += batch
        }
    }
}

/// The server of the fault test and the script that crashes, stalls and restarts it.
struct FaultServer: Sendable {
    let url: String
    let directory: String
    let port: String
    let script: String

    static var current: FaultServer? {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["WHIZBANG_FAULT_POSTGRES_URL"], let directory = environment["WHIZBANG_FAULT_POSTGRES_DIR"],
            let port = environment["WHIZBANG_FAULT_PORT"], let script = environment["WHIZBANG_FAULT_SCRIPT"]
        else { return nil }
        return FaultServer(url: url, directory: directory, port: port, script: script)
    }

    /// Runs `scripts/fault-test.sh COMMAND DIR PORT ARGUMENTS...` and waits for it to exit.
    ///
    /// The script is spawned directly and awaited by a thread of its own: Foundation's `Process` learns of its
    /// children's exit on a Dispatch queue, which the busy appenders of this test can keep from running.
    func run(_ command: [String]) async throws {
        let arguments = ["/bin/bash", script, command[0], directory, port] + command.dropFirst()
        let status = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<Int32, any Error>) in
            var pid: pid_t = 0
            let argv = arguments.map { strdup($0) } + [nil]
            defer { for argument in argv { free(argument) } }
            let spawned = posix_spawn(&pid, "/bin/bash", nil, nil, argv, environ)
            guard spawned == 0 else {
                continuation.resume(throwing: ScriptFailed(command: command, status: spawned))
                return
            }
            let child = pid
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(child, &status, 0) == -1 && errno == EINTR {}
                continuation.resume(returning: status)
            }
        }
        // Exited normally with status 0.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw ScriptFailed(command: command, status: status)
        }
    }

    struct ScriptFailed: Error {
        var command: [String]
        var status: Int32
    }
}

/// What the fault test's callers saw: acknowledged events, retries, conflicts, errors, and the calls in flight.
final class FaultTally: Sendable {
    struct Acked: Sendable {
        var eventID: MessageID
        var streamID: StreamID
        var version: UInt64
        var position: UInt64
    }

    struct Report {
        var acked: [Acked]
        var retried: Int
        var conflicts: Int
        var settledEarlier: Int
        var hung: Int
        var unexpectedErrors: [String]
        var subscribed: [MessageID]
        var subscriptionRetries: Int
        var summary: String
    }

    private struct State {
        var acked: [Acked] = []
        var retried = 0
        var conflicts = 0
        var settledEarlier = 0
        var hung: Set<Int> = []
        var unexpectedErrors: [String] = []
        var subscribed: [MessageID] = []
        var subscriptionRetries = 0
        var nextTicket = 0
        var inFlight: [Int: ContinuousClock.Instant] = [:]
        var target: UInt64? = nil
    }

    private let state = Mutex(State())
    private let stopped = Atomic(false)

    var isStopped: Bool { stopped.load(ordering: .relaxed) }
    var target: UInt64? { state.withLock { $0.target } }

    func stop() { stopped.store(true, ordering: .relaxed) }
    func setTarget(_ position: UInt64) { state.withLock { $0.target = position } }
    func retried() { state.withLock { $0.retried += 1 } }
    func conflict() { state.withLock { $0.conflicts += 1 } }
    func settledEarlier() { state.withLock { $0.settledEarlier += 1 } }
    func subscribed(_ eventID: MessageID) { state.withLock { $0.subscribed.append(eventID) } }
    func subscriptionRetries(_ count: Int) { state.withLock { $0.subscriptionRetries = count } }

    func begin() -> Int {
        state.withLock { state in
            state.nextTicket += 1
            state.inFlight[state.nextTicket] = ContinuousClock.now
            return state.nextTicket
        }
    }

    func end(_ ticket: Int, error: (any Error)?) {
        state.withLock { state in
            if let started = state.inFlight.removeValue(forKey: ticket),
                ContinuousClock.now - started > PostgresFaultInjectionTests.hungAfter
            {
                state.hung.insert(ticket)
            }
            if let error, (error as? EventStoreError)?.code != .wrongExpectedVersion,
                (error as? EventStoreError)?.code != .duplicateEventID
            {
                state.unexpectedErrors.append("\(error)")
            }
        }
    }

    /// Counts every call in flight for longer than `limit` as hung.
    func checkHung(after limit: Duration) {
        let now = ContinuousClock.now
        state.withLock { state in
            for (ticket, started) in state.inFlight where now - started > limit { state.hung.insert(ticket) }
        }
    }

    func acknowledge(_ events: [EventData], result: AppendResult) {
        let first = result.streamVersion - UInt64(events.count) + 1
        let acked = events.enumerated().map { offset, event in
            Acked(
                eventID: event.eventID, streamID: result.streamID, version: first + UInt64(offset),
                position: result.positions.lowerBound + UInt64(offset))
        }
        state.withLock { $0.acked += acked }
    }

    func report(crashes: Int, stalls: Int) -> Report {
        state.withLock { state in
            Report(
                acked: state.acked, retried: state.retried, conflicts: state.conflicts,
                settledEarlier: state.settledEarlier, hung: state.hung.count, unexpectedErrors: state.unexpectedErrors,
                subscribed: state.subscribed, subscriptionRetries: state.subscriptionRetries,
                summary: "crashes=\(crashes) stalls=\(stalls) acked=\(state.acked.count) retried=\(state.retried) "
                    + "conflicts=\(state.conflicts) settledEarlier=\(state.settledEarlier) "
                    + "subscriptionRetries=\(state.subscriptionRetries) subscribed=\(state.subscribed.count) "
                    + "unexpectedErrors=\(state.unexpectedErrors.count) hung=\(state.hung.count)")
        }
    }
}
