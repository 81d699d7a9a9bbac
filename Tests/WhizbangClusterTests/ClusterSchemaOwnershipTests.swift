import Foundation
import PostgresNIO
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// The cluster's schema, `<store schema>_cluster`, when a schema of that name already holds someone else's objects.
@Suite("Cluster schema ownership and names", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterSchemaOwnershipTests {
    /// Makes the schema the cluster of `store` would use, holding the user's `settings` table (one row) and the
    /// user's `table`; expects a client's first enqueue to be refused with `foreignSchema`, and the settings and the
    /// schema's tables unchanged.
    func expectRefused(_ store: PostgresEventStore, beside table: String) async throws {
        let cluster = "\"\(store.configuration.schema)_cluster\""
        for sql in [
            "CREATE SCHEMA \(cluster)",
            "CREATE TABLE \(cluster).settings (key text PRIMARY KEY, value bigint NOT NULL)",
            "INSERT INTO \(cluster).settings VALUES ('invoice_due_days', 30)",
            "CREATE TABLE \(cluster).\(table) (id bigint PRIMARY KEY)",
        ] {
            _ = try await ClusterTestDatabase.query(sql, configuration: store.configuration)
        }
        let client = try ClusterClient(
            store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
        await #expect {
            _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("counter-1"), as: Counter.self)
        } throws: {
            ($0 as? ClusterError)?.code == .foreignSchema
        }
        let settings = try await ClusterTestDatabase.query(
            "SELECT string_agg(key, ',' ORDER BY key) FROM \(cluster).settings", configuration: store.configuration)
        #expect(settings == ["invoice_due_days"], "the cluster wrote its settings into the user's table")
        let tables = try await ClusterTestDatabase.query(
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
                + "WHERE schemaname = '\(store.configuration.schema)_cluster'",
            configuration: store.configuration)
        #expect(tables == [[table, "settings"].sorted().joined(separator: ",")], "tables were created among the user's")
    }

    /// The user's own schema, which happens to have the cluster's name: their invoices, and their settings as keys
    /// and values. The store refuses such a schema as its own (PostgresLifecycleTests); so should the cluster.
    @Test("a cluster refuses a schema of its name that holds the user's own objects, and writes nothing there")
    func aForeignClusterSchemaIsRefused() async throws {
        try await ClusterTestDatabase.withStore { store in try await expectRefused(store, beside: "invoices") }
    }

    /// Names alone do not prove a schema is a cluster's: before, a user's schema holding only tables that happen to
    /// bear the cluster's names (`settings`, `nodes`) counted as the cluster's own, and the cluster wrote its rows
    /// into them, added a column to one and created its tables beside them.
    @Test("a user's schema holding only tables named as the cluster's is refused, and left as it was")
    func aSchemaOfOwnNamedTablesIsRefused() async throws {
        try await ClusterTestDatabase.withStore { store in
            try await expectRefused(store, beside: "nodes")
            let columns = try await ClusterTestDatabase.query(
                "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns "
                    + "WHERE table_schema = '\(store.configuration.schema)_cluster' AND table_name = 'nodes'",
                configuration: store.configuration)
            #expect(columns == ["id"], "the cluster changed the user's table")
        }
    }

    @Test("an existing cluster whose operator added a view of their own goes on")
    func anExistingClusterWithAnAddedViewGoesOn() async throws {
        try await ClusterTestDatabase.withStore { store in
            let configuration = ClusterTestDatabase.cluster()
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            let cluster = "\"\(store.configuration.schema)_cluster\""
            _ = try await ClusterTestDatabase.query(
                "CREATE VIEW \(cluster).pending AS SELECT id FROM \(cluster).inbox WHERE status = 0",
                configuration: store.configuration)
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: configuration)
            let ticket = try await client.enqueue(Counter.Command.add(1), to: StreamID("counter-1"), as: Counter.self)
            #expect(ticket.row > 0)
        }
    }

    /// A node on a cluster whose inbox had lost a column by hand started, claimed every partition, and then failed
    /// every batch ("column done_at of relation inbox does not exist") once a second, for as long as it ran.
    @Test("a cluster whose tables lack a column or have it with another type is refused at start, and left as it was")
    func aDamagedClusterSchemaIsRefused() async throws {
        try await ClusterTestDatabase.withStore { store in
            let configuration = ClusterTestDatabase.cluster()
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            let cluster = "\"\(store.configuration.schema)_cluster\""
            for sql in [
                "ALTER TABLE \(cluster).inbox DROP COLUMN done_at",
                "ALTER TABLE \(cluster).fence_rejections ALTER COLUMN epoch TYPE integer",
            ] {
                _ = try await ClusterTestDatabase.query(sql, configuration: store.configuration)
            }
            let error = await #expect(throws: ClusterError.self) {
                try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            }
            #expect(error?.code == .damagedSchema)
            #expect(error?.message.contains("inbox.done_at is missing") == true, "\(error?.message ?? "")")
            #expect(
                error?.message.contains("fence_rejections.epoch is integer, not bigint") == true,
                "\(error?.message ?? "")")
            // Nothing was changed: the column is still missing, and a client refuses the same way.
            let columns = try await ClusterTestDatabase.query(
                "SELECT count(*)::text FROM information_schema.columns WHERE table_schema = "
                    + "'\(store.configuration.schema)_cluster' AND table_name = 'inbox' AND column_name = 'done_at'",
                configuration: store.configuration)
            #expect(columns == ["0"])
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: configuration)
            await #expect {
                _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("counter-1"), as: Counter.self)
            } throws: {
                ($0 as? ClusterError)?.code == .damagedSchema
            }
            // A dropped column that an index of the cluster's used (the index goes with it) is refused the same way,
            // not with the server's error from the statement that makes the index again.
            for sql in [
                "ALTER TABLE \(cluster).inbox DROP COLUMN status",
                "ALTER TABLE \(cluster).partitions DROP COLUMN partition",
            ] {
                _ = try await ClusterTestDatabase.query(sql, configuration: store.configuration)
            }
            let again = await #expect(throws: ClusterError.self) {
                try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            }
            #expect(again?.code == .damagedSchema)
            #expect(again?.message.contains("inbox.status is missing") == true, "\(again?.message ?? "")")
            #expect(again?.message.contains("partitions.partition is missing") == true, "\(again?.message ?? "")")
        }
    }

    /// A cluster whose inbox had lost its unique key on the message id started, and its clients' inserts failed
    /// with the server's "there is no unique or exclusion constraint matching the ON CONFLICT specification".
    @Test("a cluster whose tables lack a unique key the cluster relies on is refused at start, and left as it was")
    func aClusterWithoutItsUniqueKeysIsRefused() async throws {
        try await ClusterTestDatabase.withStore { store in
            let configuration = ClusterTestDatabase.cluster()
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            let cluster = "\"\(store.configuration.schema)_cluster\""
            for sql in [
                "ALTER TABLE \(cluster).inbox DROP CONSTRAINT inbox_message_id_key",
                "ALTER TABLE \(cluster).jobs DROP CONSTRAINT jobs_pkey",
                // A unique index of someone else's, on more columns, is not the key.
                "CREATE UNIQUE INDEX mine ON \(cluster).inbox (message_id, partition)",
            ] {
                _ = try await ClusterTestDatabase.query(sql, configuration: store.configuration)
            }
            let error = await #expect(throws: ClusterError.self) {
                try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            }
            #expect(error?.code == .damagedSchema)
            #expect(
                error?.message.contains("inbox has no unique index on (message_id)") == true
                    && error?.message.contains("jobs has no unique index on (name)") == true,
                "\(error?.message ?? "")")
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: configuration)
            await #expect {
                _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("counter-1"), as: Counter.self)
            } throws: {
                ($0 as? ClusterError)?.code == .damagedSchema
            }
            let rows = try await ClusterTestDatabase.query(
                "SELECT count(*)::text FROM \(cluster).inbox", configuration: store.configuration)
            #expect(rows == ["0"])
        }
    }

    /// A row written by hand with an id of 0 or below (`OVERRIDING SYSTEM VALUE`) lay behind every node's cursor,
    /// which starts at 0: it stayed pending, without a word, and ran by chance after newer commands of its stream.
    /// The database refuses such a row, as it refuses a partition out of range.
    @Test("an inbox row with an id of 0 or below is refused by the database, in a new cluster and an older one")
    func aRowIdBelowOneIsRefused() async throws {
        try await ClusterTestDatabase.withStore { store in
            let configuration = ClusterTestDatabase.cluster()
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            let cluster = "\"\(store.configuration.schema)_cluster\""
            func insert(id: Int) async throws {
                _ = try await ClusterTestDatabase.query(
                    "INSERT INTO \(cluster).inbox (id, message_id, partition, stream_id, aggregate_type, payload) "
                        + "OVERRIDING SYSTEM VALUE VALUES (\(id), gen_random_uuid(), 0, 'counter-1', 'Counter', "
                        + "'\\x00'::bytea)",
                    configuration: store.configuration)
            }
            /// Whether `error` is the server's refusal by the inbox's check of row ids.
            func isRefusedByTheCheck(_ error: any Error) -> Bool {
                let error = error as? PSQLError
                return error?.serverInfo?[.sqlState] == "23514"
                    && error?.serverInfo?[.constraintName] == "inbox_id_positive"
            }
            for id in [0, -7] {
                await #expect("id \(id)") { try await insert(id: id) } throws: { isRefusedByTheCheck($0) }
            }
            // A cluster made before the check gains it at the next start.
            _ = try await ClusterTestDatabase.query(
                "ALTER TABLE \(cluster).inbox DROP CONSTRAINT inbox_id_positive", configuration: store.configuration)
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            await #expect { try await insert(id: -1) } throws: { isRefusedByTheCheck($0) }
            let pending = try await ClusterTestDatabase.query(
                "SELECT count(*)::text FROM \(cluster).inbox", configuration: store.configuration)
            #expect(pending == ["0"])
        }
    }

    /// A cluster made by an older build lacks `nodes.jobs` and `nodes.lease_ms`, which a start adds: not refused.
    @Test("a cluster without the node columns that older builds did not make starts, and gains them")
    func anOlderClusterWithoutTheAddedColumnsStarts() async throws {
        try await ClusterTestDatabase.withStore { store in
            let configuration = ClusterTestDatabase.cluster()
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            let cluster = "\"\(store.configuration.schema)_cluster\""
            _ = try await ClusterTestDatabase.query(
                "ALTER TABLE \(cluster).nodes DROP COLUMN jobs, DROP COLUMN lease_ms",
                configuration: store.configuration)
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            let columns = try await ClusterTestDatabase.query(
                "SELECT count(*)::text FROM information_schema.columns WHERE table_schema = "
                    + "'\(store.configuration.schema)_cluster' AND table_name = 'nodes' "
                    + "AND column_name IN ('jobs', 'lease_ms')",
                configuration: store.configuration)
            #expect(columns == ["2"])
        }
    }

    /// The check a tool runs before it starts a store, whose start would create the store's schema first.
    @Test("checkClusterSchema refuses others' objects, passes a missing schema and a cluster, and changes nothing")
    func theCheckBeforeAStart() async throws {
        try await ClusterTestDatabase.withStore { store in
            let configuration = store.configuration
            try await ClusterNode.checkClusterSchema(storeConfiguration: configuration)
            let cluster = "\"\(configuration.schema)_cluster\""
            for sql in ["CREATE SCHEMA \(cluster)", "CREATE TABLE \(cluster).invoices (id bigint)"] {
                _ = try await ClusterTestDatabase.query(sql, configuration: configuration)
            }
            await #expect {
                try await ClusterNode.checkClusterSchema(storeConfiguration: configuration)
            } throws: {
                ($0 as? ClusterError)?.code == .foreignSchema && "\($0)".contains("invoices")
            }
            let tables = try await ClusterTestDatabase.query(
                "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = '\(configuration.schema)_cluster'",
                configuration: configuration)
            #expect(tables == ["invoices"])
            _ = try await ClusterTestDatabase.query("DROP TABLE \(cluster).invoices", configuration: configuration)
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: ClusterTestDatabase.cluster().logger)
            _ = try await ClusterTestDatabase.query(
                "CREATE VIEW \(cluster).pending AS SELECT id FROM \(cluster).inbox", configuration: configuration)
            try await ClusterNode.checkClusterSchema(storeConfiguration: configuration)
        }
    }

    @Test("a store schema of the longest allowed name (48 characters) holds a working cluster")
    func theLongestStoreSchemaHoldsACluster() async throws {
        try await ClusterTestDatabase.withStore(adjusting: { configuration in
            // The store takes schema names of up to 48 characters; the channel name `whizbang_cluster_<schema>` was
            // then longer than PostgreSQL's 63 bytes, and every send failed.
            let name = configuration.schema + String(repeating: "x", count: 48 - configuration.schema.count)
            configuration.schema = name
        }) { store in
            #expect(store.configuration.schema.count == 48)
            var configuration = ClusterTestDatabase.cluster()
            // Polls too rare to matter: the command and its result must travel by notification.
            configuration.pollInterval = .seconds(120)
            let node = try ClusterNode(nodeID: "n", store: store, aggregates: Counter.registry, configuration: configuration)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: configuration)
            #expect(ClusterSchema.channel(forStore: store.configuration.schema).utf8.count <= 63)
            // A round trip: the insert notifies the node on the channel, and the node's result notification wakes the
            // client, well before the poll interval.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await node.run() }
                group.addTask { try await client.run() }
                // The time limit covers the node's start too (20 s in one CI run on a loaded host), and stays
                // below the poll interval.
                let result = try await client.send(
                    Counter.Command.add(1), to: StreamID("counter-1"), as: Counter.self, timeout: .seconds(90))
                #expect(result.outcome == .accepted)
                node.stop()
                group.cancelAll()
                try? await group.waitForAll()
            }
        }
    }
}
