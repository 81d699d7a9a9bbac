import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import WhizbangCluster
import WhizbangPostgres

/// Runs one node of a ledger cluster on a PostgreSQL database until SIGTERM or SIGINT, which hand its partitions
/// over at once.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a cluster node on a PostgreSQL database until SIGTERM; it runs the inbox commands of its partitions.",
        discussion: """
            SIGTERM or SIGINT stops the node gracefully: it finishes the batch under way and releases its partitions \
            at once, each step within the database's time limits (with PostgreSQL unreachable, about 20 seconds in \
            all; at most 60). A second signal, a second or more after the first, cancels what is left of the stop: \
            the partitions it still holds are then taken over when their leases expire.
            """)

    @OptionGroup var database: DatabaseOption
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "This node's id, unique among the live nodes.") var nodeID = ProcessInfo.processInfo.hostName
    @Option(
        help: "Seconds the inbox keeps a command's row after its result, which must outlast any resend; without it, every row is kept.")
    var inboxRetentionSeconds: Int?
    @Option(
        help: ArgumentHelp(
            "Milliseconds after a stop signal within which another is the same request (for tests).",
            visibility: .hidden))
    var repeatedSignalMilliseconds = 1000

    func validate() throws {
        // The cluster refuses a retention that a waiting sender could outlive: the result timeout plus the lease.
        let configuration = cluster.configuration
        let shortest = (configuration.resultTimeout + configuration.leaseDuration).components.seconds
        if let inboxRetentionSeconds, inboxRetentionSeconds <= shortest {
            throw ValidationError(
                "--inbox-retention-seconds must be more than \(shortest) (the result timeout plus the lease)")
        }
    }

    func run() async throws {
        guard case .postgres(let base) = try database.target() else {
            throw SampleError("node needs a PostgreSQL --database (postgres://...)", exitStatus: 2)
        }
        let storeConfiguration = cluster.storeConfiguration(base)
        try await ClusterOptions.checkClusterSchema(storeConfiguration)
        var configuration = cluster.configuration
        configuration.inboxRetention = inboxRetentionSeconds.map { .seconds($0) }
        configuration.logger = Logger(label: "whizbang.cluster")
        configuration.logger.logLevel = database.verbose ? .debug : .info
        let store = try PostgresEventStore(configuration: storeConfiguration)
        let node: ClusterNode
        let client: ClusterClient
        do {
            // The node runs the transfer saga as a job; its commands go through the inbox like any other.
            client = try ClusterClient(
                store: store, aggregates: AccountCommandCodec.aggregates, configuration: configuration)
            node = try ClusterNode(
                nodeID: nodeID, store: store, aggregates: AccountCommandCodec.aggregates, configuration: configuration,
                jobs: [TransferProcess(client: client)],
                startCheck: { [schema = storeConfiguration.schema, timeout = storeConfiguration.requestTimeout] in
                    // The first node of a ledger adds the transfer job only where no run without --cluster carried
                    // out or carries out transfers, in the transaction that records it.
                    try await LocalTransfersCheck.admitNode($0, storeSchema: schema, requestTimeout: timeout)
                })
        } catch let error as ClusterError {
            throw ClusterOptions.refusal(error)
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: store),
                .init(service: client),
                .init(
                    service: node, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            logger: Logger(label: "whizbang.sample.node"))
        // A graceful stop finishes the batch under way and releases the node's partitions, each step bounded by the
        // store's deadlines; past this limit, or at a second signal (a second or more after the first), the node is
        // cancelled (its leases then expire).
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(60)
        let cancelled: Bool
        do {
            // The first SIGTERM or SIGINT stops the node gracefully; a second one cancels it.
            cancelled = try await ServeCommand.run(
                ServiceGroup(configuration: groupConfiguration), repeatWindow: .milliseconds(repeatedSignalMilliseconds))
        } catch let error as ClusterError {
            throw [.nodeAlreadyLive, .partitionCountMismatch, .foreignSchema, .damagedSchema].contains(error.code)
                ? ClusterOptions.refusal(error) : SampleError(error.message)
        } catch let error as ServiceGroupError {
            throw SampleError("the node stopped: \(error)")
        } catch {
            // A server it never reached, before it claimed anything: one line and exit status 2, as the other
            // commands say it, instead of the client's words for the failed connection.
            // A lost connection is not one of them: a standby node may have written its heartbeats for hours.
            if node.statistics.claims == 0,
                let problem = PostgresProblem.problem(error, storeConfiguration, lostConnectionIsRefusal: false)
            {
                throw problem
            }
            throw error
        }
        let statistics = node.statistics
        print(
            "node \(nodeID) stopped: \(statistics.commandsRun) commands run in \(statistics.batches) batches, \(statistics.claims) partitions claimed, "
                + "\(statistics.releases) released, \(statistics.fenceRejections) batches refused by the fence, "
                + "\(statistics.jobClaims) jobs claimed, \(statistics.jobFenceRejections) job checkpoints refused by the "
                + "fence, \(client.repeatedSendCount) process-manager commands redelivered, "
                + "\(statistics.inboxRowsDeleted) expired inbox rows deleted")
        if cancelled {
            throw SampleError(
                "node \(nodeID) was cancelled by a second signal: the partitions it still owned were not released, and "
                    + "other nodes take them once their leases run out")
        }
    }
}
