import Foundation
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// A node asked to stop before its run begins: run() cleared the request and ran on until the next stop.
@Suite("Cluster node stop before run", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterNodeStopTests {
    @Test("stop() called before run() begins is kept: run() returns at once, and the next run runs")
    func aStopBeforeRunIsKept() async throws {
        try await ClusterTestDatabase.withStore { store in
            let node = try ClusterNode(
                nodeID: "early-stop", store: store, aggregates: Counter.registry,
                configuration: ClusterTestDatabase.cluster())
            // A shutdown signal arrives while the task that runs the node has not started yet.
            node.stop()
            try await node.run()
            #expect(node.ownedPartitions.isEmpty)
            // The stop was used up: a later run claims partitions until it is stopped.
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (beats, beat) = AsyncStream.makeStream(of: LeaseKeeper.Beat.self)
                node.beatObserver.withLock { $0 = { beat.yield($0) } }
                group.addTask {
                    defer { beat.finish() }
                    try await node.run()
                }
                var iterator = beats.makeAsyncIterator()
                let first = try #require(await iterator.next(), "the second run stopped before its first heartbeat")
                #expect(!first.claimed.isEmpty)
                node.beatObserver.withLock { $0 = nil }
                node.stop()
                try await group.waitForAll()
            }
        }
    }

    @Test("a node stops and releases its leases although a job's batch ignores cancellation")
    func aStuckJobDoesNotHoldTheNode() async throws {
        try await ClusterTestDatabase.withStore { store in
            var configuration = ClusterTestDatabase.cluster()
            // The longest the node waits for its jobs when it stops. 15 s, not 3: the server ends the cluster's own
            // transactions after half a lease, and with 3 s leases a heartbeat stalled on a loaded CI machine lost
            // its connection.
            configuration.leaseDuration = .seconds(15)
            configuration.heartbeatInterval = .seconds(5)
            let stuck = StuckTally()
            let node = try ClusterNode(
                nodeID: "stuck-job", store: store, aggregates: Counter.registry, configuration: configuration,
                jobs: [stuck])
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: configuration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await node.run() }
                _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("counter-1"), as: Counter.self)
                await stuck.entered()
                // Before, the node cancelled the job and waited for it for ever: run() never returned, and the
                // node's partitions and job stayed leased to it.
                node.stop()
                try await group.waitForAll()
            }
            let owners = try await ClusterTestDatabase.query(
                "SELECT coalesce(owner, 'none') FROM \"\(store.configuration.schema)_cluster\".jobs WHERE name = 'stuck'",
                configuration: store.configuration)
            #expect(owners == ["none"])
            stuck.release()
        }
    }
}

/// A projection whose first batch waits, ignoring cancellation, until ``release()``.
private final class StuckTally: Projection, Sendable {
    let name = "stuck"
    private let arrivals = AsyncStream.makeStream(of: Void.self)
    private let waiter = Mutex<(released: Bool, continuation: CheckedContinuation<Void, Never>?)>((false, nil))

    func apply(_ events: [RecordedEvent]) async throws {
        arrivals.continuation.yield()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = waiter.withLock { state -> Bool in
                if state.released { return true }
                state.continuation = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func reset() async throws {}

    func entered() async { for await _ in arrivals.stream { return } }

    func release() {
        let continuation = waiter.withLock { state in
            state.released = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume()
    }
}
