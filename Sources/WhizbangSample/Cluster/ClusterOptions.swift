import ArgumentParser
import Foundation
import WhizbangCluster
import WhizbangPostgres

/// The cluster's timings, shared by `node`, `cluster` and `run --cluster`; every process of one cluster must use
/// the same partition count.
struct ClusterOptions: ParsableArguments {
    @Option(help: "Partitions of the cluster, fixed when it is created.") var partitions = 256
    @Option(help: "Milliseconds between a node's heartbeats.") var heartbeatMilliseconds = 2000
    @Option(help: "Milliseconds a lease lasts after its last renewal.") var leaseMilliseconds = 10_000
    @Option(help: "Milliseconds between polls of the inbox when no notification came.") var pollMilliseconds = 1000
    @Option(help: "The most commands a node runs in one transaction.") var batchSize = 512

    func validate() throws {
        guard (1...65_536).contains(partitions) else { throw ValidationError("--partitions must be from 1 to 65536") }
        guard heartbeatMilliseconds >= 1, pollMilliseconds >= 1 else {
            throw ValidationError("--heartbeat-milliseconds and --poll-milliseconds must be positive")
        }
        guard leaseMilliseconds > heartbeatMilliseconds else {
            throw ValidationError("--lease-milliseconds must be longer than --heartbeat-milliseconds")
        }
        // The node's statements are bounded by a part of the lease, in the server's milliseconds setting.
        guard leaseMilliseconds <= 86_400_000 else {
            throw ValidationError("--lease-milliseconds must be at most 86400000 (a day)")
        }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    /// Refuses, before any store is opened (which would create the store's schema), a cluster schema that holds
    /// objects the cluster did not create (`ClusterNode/checkClusterSchema(storeConfiguration:)`): a refused start
    /// then leaves the database as it was.
    static func checkClusterSchema(_ configuration: PostgresEventStore.Configuration) async throws {
        do {
            try await ClusterNode.checkClusterSchema(storeConfiguration: configuration)
        } catch let error as ClusterError {
            throw refusal(error)
        } catch {
            throw PostgresProblem.problem(error, configuration) ?? error
        }
    }

    /// `error` as the sample says it: a partition count other than the cluster's is named by its option.
    static func refusal(_ error: ClusterError) -> SampleError {
        guard error.code == .partitionCountMismatch else { return SampleError(error.message, exitStatus: 2) }
        return SampleError.refusal(error.message.replacingOccurrences(of: "configure ", with: "give --partitions "))
    }

    var configuration: ClusterConfiguration {
        var configuration = ClusterConfiguration()
        configuration.partitionCount = partitions
        configuration.heartbeatInterval = .milliseconds(heartbeatMilliseconds)
        configuration.leaseDuration = .milliseconds(leaseMilliseconds)
        configuration.pollInterval = .milliseconds(pollMilliseconds)
        configuration.maximumBatchSize = batchSize
        configuration.resultTimeout = .seconds(120)
        return configuration
    }

    /// The store settings of a cluster process: connections enough for the listeners, and timeouts that keep a
    /// stalled process from holding a lock past its lease (a paused node's open transaction is ended by the
    /// server after half a lease).
    func storeConfiguration(_ base: PostgresEventStore.Configuration) -> PostgresEventStore.Configuration {
        var store = base
        store.maximumConnections = max(store.maximumConnections, 12)
        let half = Duration.milliseconds(max(200, leaseMilliseconds / 2))
        store.idleInTransactionTimeout = half
        store.statementTimeout = half
        store.requestTimeout = half
        store.keepAliveInterval = .seconds(5)
        return store
    }
}
