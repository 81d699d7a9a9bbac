import Logging
public import WhizbangPostgres

extension ClusterNode {
    /// Checks, before any store or node runs, that the schema the cluster of a store with `storeConfiguration` would
    /// use (`<store schema>_cluster`) holds nothing the cluster did not create, as a node's start checks it
    /// (``run()``), on a connection of its own. Changes nothing.
    ///
    /// A node's store creates its own schema when it starts, before the node looks at the cluster's: call this first
    /// where a refused start must leave nothing behind (a command-line tool that starts a store and a node on a new
    /// schema).
    ///
    /// - Throws: ``ClusterError`` `foreignSchema` when the schema holds objects the cluster did not create and no
    ///   cluster (objects beside a cluster are allowed, as at a start); `EventStoreError` when the database cannot be
    ///   reached or a statement takes longer than the store's request timeout.
    public static func checkClusterSchema(storeConfiguration: PostgresEventStore.Configuration) async throws {
        let schema = ClusterSchema.name(forStore: storeConfiguration.schema)
        let foreign = try await PostgresEventStore.withOwnConnection(storeConfiguration) { connection, logger in
            guard try await !ClusterSchema.holdsCluster(schema, on: connection, logger: logger) else { return [String]() }
            return try await ClusterSchema.foreignObjects(in: schema, all: true, on: connection, logger: logger)
        }
        if !foreign.isEmpty { throw ClusterSchema.foreignSchemaError(schema: "\"\(schema)\"", objects: foreign) }
    }
}
