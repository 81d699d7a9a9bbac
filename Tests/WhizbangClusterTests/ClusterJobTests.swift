import Foundation
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// Leased jobs (projections and process managers), driven step by step as in ``ClusterFenceTests``: the test calls
/// the heartbeats and runs the job runners itself, and gates decide when a job's batch may finish.
@Suite("Cluster jobs", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterJobTests {
    func node(_ id: String, _ store: PostgresEventStore, jobs: [any Projection]) throws -> ClusterNode {
        try ClusterNode(
            nodeID: id, store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster(),
            jobs: jobs)
    }

    func prepare(_ store: PostgresEventStore) async throws {
        try await ClusterSchema.prepare(store, partitionCount: 8, logger: ClusterTestDatabase.cluster().logger)
    }

    /// Stores `count` events in stream `stream` through the inbox, run by `owner`.
    func record(_ count: Int, in stream: String, store: PostgresEventStore, owner: ClusterNode) async throws {
        let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
        for amount in 1...count {
            _ = try await client.enqueue(Counter.Command.add(amount), to: StreamID(stream), as: Counter.self)
        }
        let report = try await owner.executor.runBatch(owned: owner.ownership.executable())
        #expect(report.completed == count)
    }

    /// Makes `node` look dead to the others: its heartbeat and every lease it holds lie in the past.
    func expire(_ node: String, store: PostgresEventStore) async throws {
        let cluster = "\"\(store.configuration.schema)_cluster\""
        for sql in [
            "UPDATE \(cluster).nodes SET heartbeat_at = now() - interval '1 hour' WHERE node_id = '\(node)'",
            "UPDATE \(cluster).jobs SET lease_until = now() - interval '1 second' WHERE owner LIKE '\(node)#%'",
            "UPDATE \(cluster).partitions SET lease_until = now() - interval '1 second' WHERE owner LIKE '\(node)#%'",
        ] {
            _ = try await ClusterTestDatabase.query(sql, configuration: store.configuration)
        }
    }

    func checkpoint(_ job: String, store: PostgresEventStore) async throws -> String? {
        try await ClusterTestDatabase.jobCheckpoint(job, store: store)
    }

    @Test("a stale job owner's checkpoint write is refused by the fence and writes nothing")
    func staleJobOwnerIsFenced() async throws {
        try await ClusterTestDatabase.withStore { store in
            try await prepare(store)
            let stale = GatedTally(name: "tally", gated: true)
            let first = try node("first", store, jobs: [stale])
            try await first.leases.register()
            let claimed = try await first.leases.beat().claimedJobs
            #expect(claimed == ["tally": JobOwnership.Claim(epoch: 1, checkpoint: 0)])
            try await record(3, in: "counter-1", store: store, owner: first)

            // The first owner applies the batch, and is held there while it "pauses" past its lease.
            let runner = try #require(first.jobRunners["tally"])
            async let firstEnding = runner.run(epoch: 1, from: 0, wake: Wakeup()) { stale.count < 3 }
            await stale.entered()
            try await expire("first", store: store)
            let fresh = GatedTally(name: "tally", gated: false)
            let second = try node("second", store, jobs: [fresh])
            try await second.leases.register()
            let takeover = try await second.leases.beat().claimedJobs
            #expect(takeover == ["tally": JobOwnership.Claim(epoch: 2, checkpoint: 0)])

            // The first owner wakes and tries to move the checkpoint: refused, and the checkpoint is unmoved.
            stale.open()
            #expect(await firstEnding == .fenced)
            #expect(try await checkpoint("tally", store: store) == "0")
            let fenced = try await ClusterTestDatabase.query(
                "SELECT count(*)::text FROM \"\(store.configuration.schema)_cluster\".job_log "
                    + "WHERE action = 'fenced' AND owner LIKE 'first#%'",
                configuration: store.configuration)
            #expect(fenced == ["1"])

            // The new owner applies the same events again and moves the checkpoint.
            let secondRunner = try #require(second.jobRunners["tally"])
            let ending = await secondRunner.run(epoch: 2, from: 0, wake: Wakeup()) { fresh.count < 3 }
            #expect(ending == .stopped)
            #expect(fresh.count == 3)
            let last = try await store.readAll(after: 0, limit: 10).last?.position
            #expect(try await checkpoint("tally", store: store) == last.map(String.init))
        }
    }

    @Test("jobs spread evenly over the live nodes and move, with their checkpoints, when their node dies")
    func jobMovesOnNodeDeath() async throws {
        try await ClusterTestDatabase.withStore { store in
            try await prepare(store)
            let jobs: [any Projection] = [GatedTally(name: "alpha", gated: false), GatedTally(name: "beta", gated: false)]
            let first = try node("first", store, jobs: jobs)
            try await first.leases.register()
            #expect(try await first.leases.beat().claimedJobs.keys.sorted() == ["alpha", "beta"])
            try await record(2, in: "counter-2", store: store, owner: first)
            let alpha = try #require(first.jobRunners["alpha"])
            let tally = try #require(alpha.job as? GatedTally)
            #expect(await alpha.run(epoch: 1, from: 0, wake: Wakeup()) { tally.count < 2 } == .stopped)
            let moved = try #require(try await checkpoint("alpha", store: store))

            // A second node comes: the first is over its share of one job and hands one over.
            let second = try node(
                "second", store, jobs: [GatedTally(name: "alpha", gated: false), GatedTally(name: "beta", gated: false)])
            try await second.leases.register()
            #expect(try await second.leases.beat().claimedJobs.isEmpty)
            let marking = try await first.leases.beat()
            #expect(marking.jobsToRelease == ["beta"])
            #expect(try await first.leases.beat().releasedJobs == ["beta"])
            #expect(try await second.leases.beat().claimedJobs.keys.sorted() == ["beta"])
            #expect(first.ownedJobs.keys.sorted() == ["alpha"])
            #expect(second.ownedJobs.keys.sorted() == ["beta"])

            // The first node dies: once its lease is over, the second claims its job, at its checkpoint.
            try await expire("first", store: store)
            let takeover = try await second.leases.beat()
            #expect(takeover.claimedJobs["alpha"]?.epoch == 2)
            #expect(takeover.claimedJobs["alpha"].map { String($0.checkpoint) } == moved)
            #expect(second.ownedJobs.keys.sorted() == ["alpha", "beta"])
        }
    }

    @Test("a process manager's events delivered again after a failover send the same commands, which run once")
    func processManagerRedeliveryRunsNothingTwice() async throws {
        try await ClusterTestDatabase.withStore { store in
            try await prepare(store)
            let configuration = ClusterTestDatabase.cluster()
            let firstClient = try ClusterClient(store: store, aggregates: Counter.registry, configuration: configuration)
            let secondClient = try ClusterClient(store: store, aggregates: Counter.registry, configuration: configuration)
            let stale = Mirror(client: firstClient, gated: true)
            let first = try node("first", store, jobs: [stale])
            try await first.leases.register()
            _ = try await first.leases.beat()
            try await record(4, in: "source", store: store, owner: first)

            // The first owner sends its four commands, then pauses past its lease before moving its checkpoint.
            let runner = try #require(first.jobRunners["mirror"])
            async let firstEnding = runner.run(epoch: 1, from: 0, wake: Wakeup()) { stale.count < 4 }
            await stale.entered()
            #expect(firstClient.repeatedSendCount == 0)
            try await expire("first", store: store)
            let fresh = Mirror(client: secondClient, gated: false)
            let second = try node("second", store, jobs: [fresh])
            try await second.leases.register()
            _ = try await second.leases.beat()

            // The new owner gets the same events again and sends the same commands: the inbox has them all.
            let secondRunner = try #require(second.jobRunners["mirror"])
            #expect(await secondRunner.run(epoch: 2, from: 0, wake: Wakeup()) { fresh.count < 4 } == .stopped)
            #expect(secondClient.repeatedSendCount == 4)
            stale.open()
            #expect(await firstEnding == .fenced)

            // Each command runs once: the mirror has four events, one per source event.
            let report = try await second.executor.runBatch(owned: second.ownership.executable())
            #expect(report.completed == 4)
            #expect(try await store.streamVersion(of: StreamID("mirror")) == 4)
            let rows = try await ClusterTestDatabase.query(
                "SELECT count(*)::text FROM \"\(store.configuration.schema)_cluster\".inbox WHERE stream_id = 'mirror'",
                configuration: store.configuration)
            #expect(rows == ["4"])
        }
    }
}

/// A gate a job's batch waits at, and a signal that the batch got there.
final class JobGate: Sendable {
    private let arrivals: AsyncStream<Void>
    private let arrival: AsyncStream<Void>.Continuation
    private let openings: AsyncStream<Void>
    private let opening: AsyncStream<Void>.Continuation

    init() {
        (arrivals, arrival) = AsyncStream.makeStream(of: Void.self)
        (openings, opening) = AsyncStream.makeStream(of: Void.self)
    }

    /// Called by the batch: says it arrived, and waits until the gate opens.
    func pass() async {
        arrival.yield()
        for await _ in openings { return }
    }

    /// Waits until a batch arrived at the gate.
    func entered() async { for await _ in arrivals { return } }

    func open() { opening.finish() }
}

/// A projection that counts the events it saw; a gated one waits at its gate after the first batch.
final class GatedTally: Projection, Sendable {
    let name: String
    let gate: JobGate?
    private let seen = Mutex(0)

    init(name: String, gated: Bool) {
        self.name = name
        self.gate = gated ? JobGate() : nil
    }

    var count: Int { seen.withLock { $0 } }

    func apply(_ events: [RecordedEvent]) async throws {
        seen.withLock { $0 += events.count }
        await gate?.pass()
    }

    func reset() async throws {}
    func entered() async { await gate?.entered() }
    func open() { gate?.open() }
}

/// A process manager: each event of stream `source` adds its amount to stream `mirror`, with a command id derived
/// from the job's name and the event's id. A gated one waits at its gate after sending its batch's commands.
final class Mirror: ProcessManager, Sendable {
    let name = "mirror"
    let client: ClusterClient
    let gate: JobGate?
    private let seen = Mutex(0)

    init(client: ClusterClient, gated: Bool) {
        self.client = client
        self.gate = gated ? JobGate() : nil
    }

    var count: Int { seen.withLock { $0 } }

    func handle(_ event: RecordedEvent, cause: EnvelopeMetadata) async throws { try await mirror(event) }

    func mirror(_ event: RecordedEvent) async throws {
        guard event.streamID == StreamID("source") else { return }
        let amount = try JSONDecoder().decode(Counter.Amount.self, from: event.data).amount
        _ = try await client.enqueue(
            Counter.Command.add(amount), to: StreamID("mirror"), as: Counter.self,
            messageID: ClusterClient.commandID(job: name, event: event.eventID, step: "mirror"))
        seen.withLock { $0 += 1 }
    }

    func apply(_ events: [RecordedEvent]) async throws {
        for event in events { try await mirror(event) }
        await gate?.pass()
    }

    func entered() async { await gate?.entered() }
    func open() { gate?.open() }
}
