import Foundation
import ProcessTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension SampleProcessSuites {
    /// The sample on PostgreSQL gives what it gives on SQLite. Needs the server named by `WHIZBANG_POSTGRES_URL`; skipped
    /// without it, except under `CI=true`, where the missing server fails the tests.
    @Suite(
        "WhizbangSample on PostgreSQL, run as a process",
        .serialized,
        .enabled(
            if: ProcessInfo.processInfo.environment["WHIZBANG_POSTGRES_URL"] != nil
                || ProcessInfo.processInfo.environment["CI"] == "true",
            "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests")
    )
    struct PostgresSampleTests {
        /// The server's URL with a new schema, so each test starts from nothing.
        private func freshURL() throws -> String {
            guard let url = ProcessInfo.processInfo.environment["WHIZBANG_POSTGRES_URL"], !url.isEmpty else {
                throw SampleTestError("WHIZBANG_POSTGRES_URL is not set: CI must provide a PostgreSQL server")
            }
            let schema = "sample_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
            return url + (url.contains("?") ? "&" : "?") + "schema=\(schema)"
        }

        @Test("the ledger on PostgreSQL gives exactly the SQLite outcome for the same parameters")
        func sameOutcomeAsSQLite() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                cleanup.dropSchema(try schemaName(postgres))
                try await SampleProcess.withTemporaryDirectory { directory in
                    var results: [[String: Any]] = []
                    for database in [directory.appendingPathComponent("ledger.sqlite").path, postgres] {
                        let output = try await SampleProcess.run([
                            "run", "--database", database, "--accounts", "300", "--commands", "5000", "--initial-deposit", "50",
                            "--concurrency", "64", "--durability", "normal", "--json", "--quiet",
                        ])
                        #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
                        results.append(try output.json)
                    }
                    for key in ["accepted", "rejected", "deposits", "depositSum", "withdrawals", "withdrawSum", "total", "events"] {
                        #expect(results[0][key] as? Int == results[1][key] as? Int, "\(key)")
                    }
                    #expect(results[1]["ok"] as? Bool == true)
                    let verify = try await SampleProcess.run(["verify", "--database", postgres])
                    #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
                    let replay = try await SampleProcess.run(["replay", "--database", postgres, "--json"])
                    #expect(replay.status == 0, "\(replay.standardOutput)\(replay.standardError)")
                    #expect(try replay.json["total"] as? Int == results[0]["total"] as? Int)
                }
            }
        }

        @Test("export from SQLite, import into PostgreSQL gives the identical log")
        func exportFromSQLiteImportIntoPostgres() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                cleanup.dropSchema(try schemaName(postgres))
                try await SampleProcess.withTemporaryDirectory { directory in
                    let original = directory.appendingPathComponent("original.sqlite").path
                    let first = directory.appendingPathComponent("first.jsonl").path
                    let second = directory.appendingPathComponent("second.jsonl").path
                    let run = try await SampleProcess.run([
                        "run", "--database", original, "--accounts", "100", "--commands", "2000", "--transfers",
                        "--durability", "normal", "--quiet",
                    ])
                    #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                    #expect(try await SampleProcess.run(["export", "--database", original, "--output", first]).status == 0)
                    let imported = try await SampleProcess.run(["import", "--input", first, "--database", postgres])
                    #expect(imported.status == 0, "\(imported.standardOutput)\(imported.standardError)")
                    // A second import into the same store is refused: import writes a new store.
                    #expect(try await SampleProcess.run(["import", "--input", first, "--database", postgres]).status != 0)
                    #expect(try await SampleProcess.run(["export", "--database", postgres, "--output", second]).status == 0)
                    try SampleProcess.expectSameExports(first, second)
                    let verify = try await SampleProcess.run(["verify", "--database", postgres])
                    #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
                }
            }
        }

        /// As on SQLite (`SampleAckLogTests`): `run --keep` appended the acknowledgements of the ledger in one schema
        /// to the ack log of another's, and `verify` of that one then reported them as lost.
        @Test("run --keep and verify refuse the ack log of another schema's ledger, and change nothing")
        func anotherSchemasAckLogIsRefused() async throws {
            try await withCleanup { cleanup in
                let first = try freshURL()
                let second = try freshURL()
                cleanup.dropSchema(try schemaName(first))
                cleanup.dropSchema(try schemaName(second))
                try await SampleProcess.withTemporaryDirectory { directory in
                    let acks = directory.appendingPathComponent("first.acks")
                    let arguments = ["run", "--accounts", "20", "--commands", "100", "--quiet"]
                    let made = try await SampleProcess.run(arguments + ["--database", first, "--ack-log", acks.path])
                    try #require(made.status == 0, "\(made.standardOutput)\(made.standardError)")
                    let other = try await SampleProcess.run(arguments + ["--database", second])
                    try #require(other.status == 0, "\(other.standardOutput)\(other.standardError)")
                    let logged = try Data(contentsOf: acks)
                    let before = try await contents(ofSchema: try schemaName(second))
                    let refused = try await SampleProcess.run(
                        arguments + ["--database", second, "--keep", "--ack-log", acks.path])
                    #expect(refused.status == 2, "status \(refused.status): \(refused.standardError)")
                    #expect(
                        refused.standardError.contains("is the ack log of another ledger"), "\(refused.standardError)")
                    #expect(try Data(contentsOf: acks) == logged, "the refused run wrote to the ack log")
                    #expect(try await contents(ofSchema: try schemaName(second)) == before, "the refused run wrote")
                    let verify = try await SampleProcess.run(["verify", "--database", second, "--ack-log", acks.path])
                    #expect(verify.status == 2, "\(verify.status): \(verify.standardOutput)\(verify.standardError)")
                    #expect(!verify.standardOutput.contains("no stored events"), "\(verify.standardOutput)")
                    // Its own ledger's run adds to it, and verify passes.
                    let kept = try await SampleProcess.run(
                        arguments + ["--database", first, "--keep", "--ack-log", acks.path])
                    #expect(kept.status == 0, "\(kept.standardOutput)\(kept.standardError)")
                    let verified = try await SampleProcess.run(["verify", "--database", first, "--ack-log", acks.path])
                    #expect(verified.status == 0, "\(verified.standardOutput)\(verified.standardError)")
                }
            }
        }

        @Test("a password in the URL never appears in the sample's output")
        func passwordStaysOutOfOutput() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                cleanup.dropSchema(try schemaName(postgres))
                let run = try await SampleProcess.run([
                    "run", "--database", postgres, "--accounts", "20", "--commands", "100", "--quiet",
                ])
                #expect(run.status == 0, "\(run.standardError)")
                let inspect = try await SampleProcess.run(["inspect", "--database", postgres])
                #expect(inspect.status == 0, "\(inspect.standardError)")
                let components = try #require(URLComponents(string: postgres))
                if let password = components.password, !password.isEmpty {
                    for output in [run, inspect] {
                        #expect(!output.standardOutput.contains(password))
                        #expect(!output.standardError.contains(password))
                    }
                }
            }
        }

        /// Runs `body`, then the SQL it queued on `cleanup`, last queued first, whether `body` returned or threw.
        private func withCleanup(_ body: (Cleanup) async throws -> Void) async throws {
            let cleanup = Cleanup()
            let outcome: Result<Void, any Error>
            do {
                try await body(cleanup)
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            for statement in cleanup.statements.reversed() {
                _ = try? await psql(statement)
            }
            try outcome.get()
        }

        /// SQL that a test queues to run when it ends, such as dropping the schemas it made.
        private final class Cleanup {
            private(set) var statements: [String] = []

            func dropSchema(_ schema: String) {
                statements.append("DROP SCHEMA IF EXISTS \(schema) CASCADE")
            }

            func run(_ statement: String) {
                statements.append(statement)
            }
        }

        /// Runs SQL through `psql` on the server (the URL without the store's `schema` parameter).
        private func psql(_ sql: String) async throws -> String {
            let url = try #require(ProcessInfo.processInfo.environment["WHIZBANG_POSTGRES_URL"])
            let output = try await SampleProcess.tool("psql", [url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            try #require(output.status == 0, "psql: \(output.standardError)")
            return output.standardOutput
        }

        /// A new schema holding a small ledger (10 accounts, 20 commands), dropped by `cleanup`; returns its URL and
        /// its schema's name.
        private func smallLedger(_ cleanup: Cleanup) async throws -> (url: String, schema: String) {
            let postgres = try freshURL()
            let schema = try schemaName(postgres)
            cleanup.dropSchema(schema)
            let run = try await SampleProcess.run([
                "run", "--database", postgres, "--accounts", "10", "--commands", "20", "--quiet",
            ])
            try #require(run.status == 0, "\(run.standardError)")
            return (postgres, schema)
        }

        private func schemaName(_ url: String) throws -> String {
            try #require(url.firstMatch(of: /schema=([a-z0-9_]+)/).map { String($0.1) })
        }

        /// Every row of every table in the schema, in a stable order, to compare before and after.
        private func contents(ofSchema schema: String) async throws -> String {
            let tables = try await psql(
                "SELECT tablename FROM pg_tables WHERE schemaname = '\(schema)' ORDER BY tablename"
            ).split(separator: "\n")
            var text = "tables: \(tables)\n"
            for table in tables {
                text += try await psql("SELECT t::text FROM \"\(schema)\".\"\(table)\" t ORDER BY 1")
            }
            return text
        }

        @Test("run refuses a schema holding tables that are not the store's, and changes nothing, row for row")
        func runRefusesASchemaWithForeignTables() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                _ = try await psql(
                    "CREATE SCHEMA \(schema); CREATE TABLE \(schema).customers (id int PRIMARY KEY, name text); "
                        + "INSERT INTO \(schema).customers VALUES (1, 'Ada'), (2, 'Grace')")
                let before = try await contents(ofSchema: schema)
                let refused = try await SampleProcess.run([
                    "run", "--database", postgres, "--accounts", "10", "--commands", "10", "--quiet",
                ])
                #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                #expect(refused.standardError.contains("customers"), "\(refused.standardError)")
                #expect(try await contents(ofSchema: schema) == before)

                // A store of the sample's with someone's table beside it: still refused, every row kept.
                let other = try freshURL()
                let otherSchema = try schemaName(other)
                cleanup.dropSchema(otherSchema)
                let run = try await SampleProcess.run(["run", "--database", other, "--accounts", "10", "--commands", "50", "--quiet"])
                try #require(run.status == 0, "\(run.standardError)")
                _ = try await psql("CREATE TABLE \(otherSchema).invoices (id int); INSERT INTO \(otherSchema).invoices VALUES (7)")
                let withStore = try await contents(ofSchema: otherSchema)
                let again = try await SampleProcess.run(["run", "--database", other, "--accounts", "10", "--commands", "10", "--quiet"])
                #expect(again.status == 2, "\(again.standardOutput)\(again.standardError)")
                #expect(again.standardError.contains("invoices"), "\(again.standardError)")
                #expect(try await contents(ofSchema: otherSchema) == withStore)
            }
        }

        /// Before, the drop of the old ledger's tables failed on the server (`2BP01: cannot drop desired object(s)
        /// because other objects depend on them`), exit status 1: nothing was changed, but nothing said what held it.
        @Test("run refuses to replace a ledger that objects in other schemas depend on, names them, changes nothing")
        func runRefusesALedgerThatOthersDependOn() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                let view = "public.\(schema)_count"
                let other = "\(schema)_other"
                cleanup.dropSchema(schema)
                let created = try await SampleProcess.run([
                    "run", "--database", postgres, "--accounts", "10", "--commands", "20", "--quiet",
                ])
                try #require(created.status == 0, "\(created.standardError)")
                let again = ["run", "--database", postgres, "--accounts", "10", "--commands", "10", "--quiet"]
                let before = try await contents(ofSchema: schema)
                cleanup.run("DROP VIEW IF EXISTS \(view)")
                _ = try await psql("CREATE VIEW \(view) AS SELECT count(*) FROM \(schema).events")
                let refused = try await SampleProcess.run(again)
                #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                #expect(refused.standardError.contains("view \(view)"), "\(refused.standardError)")
                #expect(refused.standardError.contains("nothing was changed"), "\(refused.standardError)")
                #expect(try await contents(ofSchema: schema) == before)
                #expect(try await psql("SELECT * FROM \(view)") == psql("SELECT count(*) FROM \(schema).events"))

                // A foreign key from another schema's table to the ledger's streams: refused as well.
                _ = try await psql("DROP VIEW \(view)")
                cleanup.dropSchema(other)
                _ = try await psql(
                    "CREATE SCHEMA \(other); CREATE TABLE \(other).accounts "
                        + "(stream bigint CONSTRAINT ledger_stream REFERENCES \(schema).streams (stream_key))")
                let byKey = try await SampleProcess.run(again)
                #expect(byKey.status == 2, "\(byKey.standardOutput)\(byKey.standardError)")
                #expect(byKey.standardError.contains("ledger_stream on \(other).accounts"), "\(byKey.standardError)")
                #expect(try await contents(ofSchema: schema) == before)

                // Once nothing depends on it, the ledger is replaced.
                _ = try await psql("DROP SCHEMA \(other) CASCADE")
                let replaced = try await SampleProcess.run(again)
                #expect(replaced.status == 0, "\(replaced.standardOutput)\(replaced.standardError)")
            }
        }

        @Test("a fresh run refuses a ledger that a serve is reading, and changes nothing")
        func aFreshRunRefusesALedgerInUse() async throws {
            try await withCleanup { cleanup in
                let (postgres, schema) = try await smallLedger(cleanup)
                let before = try await contents(ofSchema: schema)
                try await whileServing(postgres) { get in
                    // The overview answers once the serve's store is open, and so holds the schema.
                    #expect(try await get("/api/overview").hasPrefix("HTTP/1.1 200"))
                    let refused = try await SampleProcess.run([
                        "run", "--database", postgres, "--accounts", "10", "--commands", "10", "--quiet",
                    ])
                    // Before, the ledger's tables were dropped under the serve.
                    #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                    #expect(refused.standardError.contains("a store runs on schema"), "\(refused.standardError)")
                }
                #expect(try await contents(ofSchema: schema) == before)
            }
        }

        @Test("run --keep refuses a ledger that another run is writing, and that run goes on")
        func aKeptRunRefusesALedgerBeingWritten() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                let created = try await SampleProcess.run([
                    "run", "--database", postgres, "--accounts", "10", "--commands", "10", "--quiet",
                ])
                try #require(created.status == 0, "\(created.standardError)")
                let writing = try await SampleProcess.child([
                    "run", "--database", postgres, "--accounts", "10", "--commands", "100000000", "--keep",
                ])
                do {
                    // A progress line comes once the run has been writing for a while (every 5 s off a terminal).
                    let progress = try #require(await writing.nextErrorLine())
                    #expect(progress.contains("/s"), "\(progress)")
                    let refused = try await SampleProcess.run([
                        "run", "--database", postgres, "--accounts", "10", "--commands", "10", "--quiet", "--keep",
                    ])
                    // Before, both runs wrote the ledger at once, and each one's checks then failed.
                    #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                    #expect(refused.standardError.contains("another run"), "\(refused.standardError)")
                } catch {
                    writing.signal(SIGKILL)
                    _ = try? await writing.exitStatus()
                    throw error
                }
                // The first run stops between commands, and its ledger passes verify.
                writing.signal(SIGTERM)
                let status = try await writing.exitStatus()
                let stopped = await writing.remainingErrorLines().joined(separator: "\n")
                #expect(status == 143 && stopped.contains("stopped by signal"), "\(status): \(stopped)")
                let verify = try await SampleProcess.run(["verify", "--database", postgres])
                #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
            }
        }

        @Test("run refuses a store it did not create at an older schema version without migrating it first")
        func runLeavesAnOlderForeignStoreUnmigrated() async throws {
            try await withCleanup { cleanup in
                // A store the sample did not create, at schema version 4: a ledger without its mark, taken back.
                let (postgres, schema) = try await smallLedger(cleanup)
                _ = try await psql(
                    "DELETE FROM \(schema).checkpoints WHERE consumer = 'whizbang-sample.ledger'; "
                        + "DELETE FROM \(schema).schema_version WHERE version >= 5; "
                        + "DROP PROCEDURE \(schema).append_batch_committed, \(schema).append_batch_fenced_committed; "
                        + "DROP FUNCTION \(schema).append_batch_fenced")
                let before = try await contents(ofSchema: schema)
                let refused = try await SampleProcess.run([
                    "run", "--database", postgres, "--accounts", "10", "--commands", "10", "--quiet",
                ])
                #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                #expect(refused.standardError.contains("did not create"), "\(refused.standardError)")
                // Before, the store was migrated to the current version (rows and routines added) and then refused.
                #expect(try await contents(ofSchema: schema) == before)
                let procedures = try await psql(
                    "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                        + "WHERE n.nspname = '\(schema)' AND p.proname = 'append_batch_committed'")
                #expect(procedures.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
            }
        }

        /// A read of a ledger at an older schema version said "give --database the schema of a store", of a store.
        @Test("reads of a ledger at an older schema version say how it is migrated, and change nothing")
        func readsOfAnOlderLedgerSayHowToMigrate() async throws {
            try await withCleanup { cleanup in
                let (postgres, schema) = try await smallLedger(cleanup)
                // The ledger as the version before this one left it: its newest migration not recorded.
                _ = try await psql(
                    "DELETE FROM \(schema).schema_version "
                        + "WHERE version = (SELECT max(version) FROM \(schema).schema_version)")
                let before = try await contents(ofSchema: schema)
                for command in [["verify"], ["inspect"], ["export", "--output", "-"]] {
                    let read = try await SampleProcess.run(command + ["--database", postgres])
                    #expect(read.status == 2, "\(command): \(read.standardOutput)\(read.standardError)")
                    #expect(
                        read.standardError.contains("migrated by a command that writes it (run --keep"),
                        "\(command): \(read.standardError)")
                    #expect(!read.standardError.contains("the schema of a store"), "\(command): \(read.standardError)")
                }
                #expect(try await contents(ofSchema: schema) == before)
                let migrated = try await SampleProcess.run([
                    "run", "--keep", "--database", postgres, "--accounts", "10", "--commands", "10", "--quiet",
                ])
                #expect(migrated.status == 0, "\(migrated.standardError)")
                let verified = try await SampleProcess.run(["verify", "--database", postgres])
                #expect(verified.status == 0, "\(verified.standardOutput)\(verified.standardError)")
            }
        }

        /// The refusal said that the sample had not created the store, where the SQLite ledger's says what it is.
        @Test("run refuses to start an imported log over, says it was imported, and changes nothing")
        func runRefusesToStartAnImportOver() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                try await SampleProcess.withTemporaryDirectory { directory in
                    let input = directory.appendingPathComponent("good.jsonl")
                    try ImportFixture.write(ImportFixture.good(streams: 2, perStream: 5), to: input)
                    let imported = try await SampleProcess.run([
                        "import", "--input", input.path, "--database", postgres,
                    ])
                    try #require(imported.status == 0, "\(imported.standardError)")
                }
                let before = try await contents(ofSchema: schema)
                let refused = try await SampleProcess.run(["run", "--database", postgres, "--quiet"])
                #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                #expect(refused.standardError.contains("imported from a file"), "\(refused.standardError)")
                #expect(try await contents(ofSchema: schema) == before)
            }
        }

        @Test("run starts over on its own store by dropping only the store's tables; a bad import leaves no store")
        func runStartsOverAndImportIsAllOrNothing() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                for commands in [300, 100] {
                    let run = try await SampleProcess.run([
                        "run", "--database", postgres, "--accounts", "10", "--commands", "\(commands)", "--quiet",
                    ])
                    #expect(run.status == 0, "\(run.standardError)")
                }
                let count = try await psql("SELECT count(*) FROM \(schema).events")
                #expect(Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 <= 110)

                let target = try freshURL()
                let targetSchema = try schemaName(target)
                cleanup.dropSchema(targetSchema)
                try await SampleProcess.withTemporaryDirectory { directory in
                    let input = directory.appendingPathComponent("bad.jsonl")
                    let good = ImportFixture.good(streams: 3, perStream: 4)
                    try ImportFixture.write(good + [ImportFixture.Bad.duplicateEventID.line(after: good)], to: input)
                    let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", target])
                    #expect(imported.status != 0)
                    #expect(imported.standardError.contains("\(input.path):13: "), "\(imported.standardError)")
                    #expect(try await psql("SELECT count(*) FROM pg_tables WHERE schemaname = '\(targetSchema)'").hasPrefix("0"))
                }
            }
        }

        /// With no node running, `run --cluster` sent its first commands and waited for their results, up to each
        /// command's time limit (two minutes by default), without a word: it now says at the start why it waits.
        @Test("run --cluster without a live node says so at the start", .timeLimit(.minutes(5)))
        func clusterRunWithoutANodeSaysSo() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                let child = try await SampleProcess.child([
                    "run", "--cluster", "--database", postgres, "--accounts", "2", "--commands", "2", "--quiet",
                ])
                var said = false
                while !said, let line = await child.nextErrorLine() {
                    said = line.hasPrefix("note: no node of the cluster is running on this database")
                }
                child.signal(SIGKILL)
                _ = try? await child.finish()
                #expect(said)
            }
        }

        /// A run or a node given another partition count than its cluster's was refused in the library's words
        /// ("this node is configured with 7 ... configure 4"), which named neither the run nor the option to change.
        @Test(
            "run --cluster and node given another partition count than the cluster's name --partitions",
            .timeLimit(.minutes(3)))
        func anotherPartitionCountNamesTheOption() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                try await withNode(["--database", postgres, "--partitions", "4"]) {
                    let run = try await SampleProcess.run([
                        "run", "--cluster", "--database", postgres, "--partitions", "7", "--accounts", "2",
                        "--commands", "2", "--quiet",
                    ])
                    let node = try await SampleProcess.run([
                        "node", "--database", postgres, "--node-id", "n2", "--partitions", "7",
                    ])
                    for (name, refused) in [("run", run), ("node", node)] {
                        #expect(refused.status == 2, "\(name): \(refused.standardError)")
                        #expect(
                            refused.standardError.contains("has 4 partitions, not the 7 of this configuration"),
                            "\(name): \(refused.standardError)")
                        #expect(refused.standardError.contains("give --partitions 4"), "\(name): \(refused.standardError)")
                    }
                }
            }
        }

        /// A fresh run replaced the ledger and left the cluster's state of the old one in `<schema>_cluster`: the
        /// transfer process manager's checkpoint stayed past the new log's end, so the nodes skipped the new
        /// ledger's transfer requests, and a `run --cluster --transfers` waited for steps that never ran.
        @Test(
            "a fresh run refuses a ledger whose cluster holds state, and changes nothing; once cleared, it starts over",
            .timeLimit(.minutes(10)))
        func aFreshRunRefusesALedgerWithClusterState() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                let cluster = schema + "_cluster"
                cleanup.dropSchema(schema)
                cleanup.dropSchema(cluster)
                let options = ["--database", postgres, "--partitions", "4"]
                let workload = ["--accounts", "5", "--commands", "60", "--quiet"]
                let created = try await SampleProcess.run(["run", "--database", postgres] + workload)
                try #require(created.status == 0, "\(created.standardError)")
                try await withNode(options) {
                    let run = try await SampleProcess.run(["run", "--cluster", "--transfers"] + options + workload)
                    try #require(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                    // A live node: its state is never swept from under it.
                    let refused = try await SampleProcess.run(["run", "--database", postgres, "--quiet"])
                    #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                }
                let checkpoint = try await psql(
                    "SELECT checkpoint FROM \(cluster).jobs WHERE name = 'ledger-transfers'")
                try #require(Int(checkpoint.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 0, "\(checkpoint)")
                let before = try await contents(ofSchema: schema)
                let clusterBefore = try await contents(ofSchema: cluster)

                let fresh = ["run", "--database", postgres, "--accounts", "2", "--commands", "0", "--quiet"]
                let refused = try await SampleProcess.run(fresh)
                #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                #expect(refused.standardError.contains(cluster), "\(refused.standardError)")
                #expect(refused.standardError.contains("nothing was changed"), "\(refused.standardError)")
                #expect(try await contents(ofSchema: schema) == before)
                #expect(try await contents(ofSchema: cluster) == clusterBefore)
                // No job of the cluster stands past the end of the ledger's log.
                let head = try await psql("SELECT coalesce(max(position), 0) FROM \(schema).events")
                let past = try await psql(
                    "SELECT string_agg(name || ' at ' || checkpoint, ', ') FROM \(cluster).jobs "
                        + "WHERE checkpoint > \(head.trimmingCharacters(in: .whitespacesAndNewlines))")
                #expect(past.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "log ends at \(head): \(past)")

                // Cleared as the refusal says, the ledger starts over, and so does its cluster.
                _ = try await psql("TRUNCATE \(cluster).jobs, \(cluster).inbox")
                let replaced = try await SampleProcess.run(fresh)
                #expect(replaced.status == 0, "\(replaced.standardOutput)\(replaced.standardError)")
                try await withNode(options) {
                    let run = try await SampleProcess.run(["run", "--cluster", "--transfers"] + options + workload)
                    #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                }
            }
        }

        /// The nodes' transfer process manager reads the log's transfer requests from the start when its job first
        /// joins the cluster: a node started on a ledger whose transfers a run without `--cluster` had carried out
        /// moved the money again (the steps of those transfers were never in the inbox).
        @Test(
            "the first node of a ledger whose transfers a run without --cluster carried out refuses to start",
            .timeLimit(.minutes(3)))
        func aNodeRefusesALedgerWithLocalTransfers() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                let cluster = schema + "_cluster"
                cleanup.dropSchema(schema)
                cleanup.dropSchema(cluster)
                let local = try await SampleProcess.run([
                    "run", "--database", postgres, "--accounts", "5", "--commands", "60", "--transfers", "--quiet",
                ])
                try #require(local.status == 0, "\(local.standardOutput)\(local.standardError)")
                let before = try await contents(ofSchema: schema)
                let node = try await SampleProcess.run(["node", "--database", postgres, "--partitions", "4"])
                #expect(node.status == 2, "\(node.standardOutput)\(node.standardError)")
                #expect(node.standardError.contains("would carry them out again"), "\(node.standardError)")
                #expect(try await contents(ofSchema: schema) == before)
                let clusters = try await psql("SELECT count(*) FROM pg_namespace WHERE nspname = '\(cluster)'")
                #expect(clusters.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(clusters)")
            }
        }

        /// The other way round: once the cluster runs the ledger's transfers, a run without `--cluster` that carried
        /// out transfers put requests in the log that the nodes' process manager would read and carry out again.
        @Test(
            "a run without --cluster refuses to carry out transfers on a ledger whose cluster runs them",
            .timeLimit(.minutes(3)))
        func aLocalRunRefusesTransfersTheClusterRuns() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                let options = ["--database", postgres, "--partitions", "4"]
                let workload = ["--accounts", "5", "--commands", "30", "--quiet"]
                let created = try await SampleProcess.run(["run", "--database", postgres] + workload)
                try #require(created.status == 0, "\(created.standardError)")
                try await withNode(options) {
                    let run = try await SampleProcess.run(["run", "--cluster", "--transfers"] + options + workload)
                    try #require(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                }
                let before = try await contents(ofSchema: schema)
                let local = try await SampleProcess.run(
                    ["run", "--keep", "--transfers", "--database", postgres] + workload)
                #expect(local.status == 2, "\(local.standardOutput)\(local.standardError)")
                #expect(local.standardError.contains("would carry out again"), "\(local.standardError)")
                #expect(try await contents(ofSchema: schema) == before)
                // Without transfers, a run without --cluster goes on as before.
                let plain = try await SampleProcess.run(["run", "--keep", "--database", postgres] + workload)
                #expect(plain.status == 0, "\(plain.standardOutput)\(plain.standardError)")
            }
        }

        /// A node's store migrates a ledger at an older schema version; the check of the ledger's local transfers
        /// opened it read-only first, which refused every version but the current one, so the node never started.
        @Test("a node starts on a ledger at an older schema version, migrating it, and stops at SIGTERM", .timeLimit(.minutes(3)))
        func aNodeStartsOnAnOlderLedger() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                let created = try await SampleProcess.run([
                    "run", "--database", postgres, "--accounts", "5", "--commands", "20", "--quiet",
                ])
                try #require(created.status == 0, "\(created.standardError)")
                let current = try await psql("SELECT max(version) FROM \(schema).schema_version")
                // The ledger taken back to schema version 4, as an older build left it.
                _ = try await psql(
                    "DELETE FROM \(schema).schema_version WHERE version >= 5; "
                        + "DROP PROCEDURE \(schema).append_batch_committed, \(schema).append_batch_fenced_committed; "
                        + "DROP FUNCTION \(schema).append_batch_fenced")
                let node = try await SampleProcess.child(
                    ["node", "--database", postgres, "--node-id", "n1", "--heartbeat-milliseconds", "200",
                     "--lease-milliseconds", "2000"])
                var seen: [String] = []
                while let line = await node.nextErrorLine() {
                    seen.append(line)
                    if line.contains("node started") { break }
                }
                let started = seen.last?.contains("node started") == true
                node.signal(started ? SIGTERM : SIGKILL)
                let (status, rest) = try await node.finish()
                let lines = (seen + rest).joined(separator: "\n")
                #expect(started, "\(lines)")
                #expect(status == 0, "\(status): \(lines)")
                #expect(!lines.contains("schema version"), "\(lines)")
                let version = try await psql("SELECT max(version) FROM \(schema).schema_version")
                #expect(version == current, "\(version), not \(current)")
            }
        }

        /// A node (or `run --cluster`) whose cluster schema held a table of someone else's refused to start, saying
        /// "nothing was changed", after its store had created its own schema and tables: a later `run` or `import`
        /// then refused that schema as a store it did not create.
        @Test("node and run --cluster refuse, before creating anything, a cluster schema with others' objects; cluster too")
        func foreignClusterSchemaIsRefusedFirst() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                _ = try await psql("CREATE SCHEMA \(schema)_cluster; CREATE TABLE \(schema)_cluster.mine (x int)")
                for arguments in [
                    ["node", "--database", postgres, "--node-id", "n1"],
                    ["run", "--database", postgres, "--cluster", "--accounts", "4", "--commands", "8", "--quiet"],
                ] {
                    let refused = try await SampleProcess.run(arguments)
                    let said = refused.standardOutput + refused.standardError
                    #expect(refused.status == 2, "\(arguments[0]): \(refused.status) \(said)")
                    #expect(said.contains("mine") && said.contains("nothing was changed"), "\(said)")
                    #expect(!said.contains("ClusterError"), "\(said)")
                    let made = try await psql(
                        "SELECT count(*) FROM pg_namespace WHERE nspname = '\(schema)'")
                    #expect(made == "0\n", "\(arguments[0]) created the store's schema before refusing")
                }
                // `cluster` said "no cluster in schema …" of a schema that is someone else's.
                let status = try await SampleProcess.run(["cluster", "--database", postgres])
                let statusSaid = status.standardOutput + status.standardError
                #expect(status.status == 2, "cluster: \(status.status) \(statusSaid)")
                #expect(statusSaid.contains("mine") && !statusSaid.contains("no cluster"), "\(statusSaid)")
                let tooLong = try await SampleProcess.run(
                    ["node", "--database", postgres, "--lease-milliseconds", "9999999999"])
                #expect(tooLong.status == 64, "\(tooLong.status): \(tooLong.standardError)")
            }
        }

        /// `node` and `cluster` exited 1 on a schema that holds another program's tables, where `run` exits 2, as
        /// the README says of every refusal that changes nothing.
        @Test("node and cluster refuse a schema that is no store, or none, with exit status 2")
        func nodeAndClusterRefuseAForeignSchemaWithStatus2() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                let missing = try await SampleProcess.run(["cluster", "--database", postgres])
                #expect(missing.status == 2, "\(missing.status): \(missing.standardError)")
                _ = try await psql("CREATE SCHEMA \(schema); CREATE TABLE \(schema).events (x int)")
                for arguments in [["node", "--database", postgres, "--node-id", "n1"], ["cluster", "--database", postgres]] {
                    let refused = try await SampleProcess.run(arguments)
                    #expect(refused.status == 2, "\(arguments[0]): \(refused.status) \(refused.standardError)")
                    #expect(refused.standardError.contains("not a Whizbang store"), "\(refused.standardError)")
                }
            }
        }

        /// A fresh run and an import look at the ledger's cluster schema for a cluster's state; one that held the
        /// user's own tables named `jobs` and `inbox` failed them with the server's "column "owner" does not exist".
        @Test("run and import refuse a cluster schema whose tables of the cluster's names are someone else's, changing nothing")
        func foreignTablesOfTheClusterNamesAreRefused() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                let made = try await SampleProcess.run(
                    ["run", "--database", postgres, "--accounts", "4", "--commands", "8", "--quiet"])
                try #require(made.status == 0, "\(made.standardError)")
                _ = try await psql(
                    "CREATE SCHEMA \(schema)_cluster; CREATE TABLE \(schema)_cluster.jobs (name text, position bigint); "
                        + "INSERT INTO \(schema)_cluster.jobs VALUES ('payroll', 99); "
                        + "CREATE TABLE \(schema)_cluster.inbox (id int)")
                let before = try await psql("SELECT count(*) FROM \(schema).events")
                let other = postgres.replacingOccurrences(of: schema, with: schema + "i")
                cleanup.dropSchema(schema + "i")
                cleanup.dropSchema(schema + "i_cluster")
                _ = try await psql("CREATE SCHEMA \(schema)i_cluster; CREATE TABLE \(schema)i_cluster.jobs (name text)")
                try await SampleProcess.withTemporaryDirectory { directory in
                    let input = directory.appendingPathComponent("good.jsonl")
                    try ImportFixture.write(ImportFixture.good(streams: 2, perStream: 5), to: input)
                    for arguments in [
                        ["run", "--database", postgres, "--accounts", "4", "--commands", "8", "--quiet"],
                        ["import", "--input", input.path, "--database", other],
                    ] {
                        let refused = try await SampleProcess.run(arguments)
                        let said = refused.standardOutput + refused.standardError
                        #expect(refused.status == 2, "\(arguments[0]): \(refused.status) \(said)")
                        #expect(
                            said.contains("not the cluster's") && said.contains("nothing was changed")
                                && !said.contains("42703"), "\(arguments[0]): \(said)")
                    }
                }
                #expect(try await psql("SELECT count(*) FROM \(schema).events") == before)
                #expect(try await psql("SELECT position FROM \(schema)_cluster.jobs") == "99\n")
                #expect(try await psql("SELECT count(*) FROM pg_namespace WHERE nspname = '\(schema)i'") == "0\n")
            }
        }

        /// An inbox row whose status is none the cluster knows (written by hand, or by a newer build) is run by no
        /// node; `cluster` counted it nowhere, so nothing showed it was there.
        @Test("cluster counts inbox rows with a status no node knows, and says no node runs them")
        func clusterCountsRowsOfAnUnknownStatus() async throws {
            try await withStoppedCluster { postgres, schema in
                _ = try await psql(
                    "INSERT INTO \(schema)_cluster.inbox (message_id, partition, stream_id, aggregate_type, payload, "
                        + "status) VALUES ('00000000-0000-0000-0000-000000000009', 1, 'account-1', 'Account', "
                        + "'\\x00', 9)")
                let status = try await SampleProcess.run(["cluster", "--database", postgres])
                #expect(status.status == 0, "\(status.standardError)")
                #expect(
                    status.standardOutput.contains(
                        "inbox: 0 pending, 0 accepted, 0 rejected, 0 failed, 1 with a status no node knows "
                            + "(no node runs them)"),
                    "\(status.standardOutput)")
            }
        }

        /// `cluster` printed only the heartbeat's age: a node that had died without stopping read like a live one.
        @Test("cluster says which nodes have sent no heartbeat for longer than their lease")
        func clusterMarksSilentNodes() async throws {
            try await withStoppedCluster { postgres, schema in
                _ = try await psql(
                    "INSERT INTO \(schema)_cluster.nodes (node_id, member, heartbeat_at, lease_ms) VALUES "
                        + "('gone', 'gone#1', now() - interval '1 minute', 10000), "
                        + "('beating', 'beating#1', now(), 86400000), "
                        + "('older', 'older#1', now() - interval '1 minute', 0)")
                let status = try await SampleProcess.run(["cluster", "--database", postgres])
                #expect(status.status == 0, "\(status.standardError)")
                let lines = status.standardOutput.split(separator: "\n").map(String.init)
                let gone = lines.first { $0.hasPrefix("  gone (gone#1)") } ?? ""
                #expect(gone.contains(", silent for longer than its 10.0 s lease"), "\(status.standardOutput)")
                for live in ["  beating (beating#1)", "  older (older#1)"] {
                    let line = lines.first { $0.hasPrefix(live) }
                    #expect(line?.contains("silent") == false, "\(status.standardOutput)")
                }
                // The node that ran stopped gracefully: said so, not silent.
                #expect(lines.contains { $0.contains(", stopped") }, "\(status.standardOutput)")

                // The console's cluster page reads the same rows.
                try await whileServing(postgres) { get in
                    let page = try await get("/cluster")
                    #expect(page.hasPrefix("HTTP/1.1 200"), "\(page)")
                    #expect(page.contains("<td>gone#1</td>"), "\(page)")
                    let rows = page.components(separatedBy: "<tr>")
                    #expect(
                        rows.first { $0.contains("<td>gone#1</td>") }?.contains("silent for longer than its lease")
                            == true, "\(page)")
                    #expect(rows.first { $0.contains("<td>older#1</td>") }?.contains("running") == true, "\(page)")
                }

                // Tables of a release before nodes recorded their lease: no node is called silent.
                _ = try await psql("ALTER TABLE \(schema)_cluster.nodes DROP COLUMN lease_ms")
                let older = try await SampleProcess.run(["cluster", "--database", postgres])
                #expect(older.status == 0, "\(older.standardError)")
                #expect(older.standardOutput.contains("  gone (gone#1): heartbeat"), "\(older.standardOutput)")
                #expect(!older.standardOutput.contains("silent"), "\(older.standardOutput)")
            }
        }

        /// `timeout` sends SIGTERM to the node and then to its process group: the node took the second copy of the
        /// one request for a second signal, was cancelled, left its partitions to expire, and a restart within the
        /// lease was refused as "already live".
        @Test("a node sent SIGTERM twice at once stops gracefully, releasing every partition", .timeLimit(.minutes(3)))
        func aNodeTakesARepeatedSignalAsOneStop() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                let node = try await SampleProcess.child(
                    ["node", "--database", postgres, "--node-id", "n1", "--partitions", "8", "--heartbeat-milliseconds",
                     "200", "--lease-milliseconds", "60000",
                     // Far more than this test takes to send the second signal, however loaded the host.
                     "--repeated-signal-milliseconds", "600000"])
                try await waitUntilStarted(node)
                node.signal(SIGTERM)
                // The second copy arrives once the node has taken the first (two pending copies would be one).
                var lines: [String] = []
                while let line = await node.nextErrorLine() {
                    lines.append(line)
                    if line.hasPrefix("stopping on") { break }
                }
                node.signal(SIGTERM)
                var (status, rest) = try await node.finish()
                rest = lines + rest
                let said = (rest + (await node.remainingOutputLines())).joined(separator: "\n")
                #expect(status == 0, "\(status): \(said)")
                #expect(!said.contains("cancelled by a second signal"), "\(said)")
                let owned = try await psql(
                    "SELECT count(*) FROM \"\(schema)_cluster\".partitions WHERE owner IS NOT NULL AND lease_until > now()")
                #expect(owned == "0\n", "partitions still leased after the stop: \(owned)")
            }
        }

        /// Once the first node has passed its start check, the transfer job is in the cluster's jobs (registered in
        /// the check's own transaction), so a run without `--cluster` that starts afterwards refuses transfers.
        @Test("once a node has started, the transfer job is registered and a local run refuses transfers", .timeLimit(.minutes(3)))
        func aStartedNodeHasRegisteredTheTransferJob() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                let cluster = schema + "_cluster"
                cleanup.dropSchema(schema)
                cleanup.dropSchema(cluster)
                let workload = ["--accounts", "5", "--commands", "10", "--quiet"]
                let created = try await SampleProcess.run(["run", "--database", postgres] + workload)
                try #require(created.status == 0, "\(created.standardError)")
                let node = try await SampleProcess.child(
                    ["node", "--database", postgres, "--node-id", "n1", "--heartbeat-milliseconds", "200",
                     "--lease-milliseconds", "2000"])
                var started = false
                while !started, let line = await node.nextErrorLine() { started = line.contains("node started") }
                do {
                    try #require(started)
                    let jobs = try await psql("SELECT count(*) FROM \"\(cluster)\".jobs WHERE name = 'ledger-transfers'")
                    #expect(jobs.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "\(jobs)")
                    let before = try await contents(ofSchema: schema)
                    let local = try await SampleProcess.run(
                        ["run", "--keep", "--transfers", "--database", postgres] + workload)
                    #expect(local.status == 2, "\(local.standardOutput)\(local.standardError)")
                    #expect(local.standardError.contains("would carry out again"), "\(local.standardError)")
                    #expect(try await contents(ofSchema: schema) == before)
                } catch {
                    node.signal(SIGKILL)
                    _ = try? await node.finish()
                    throw error
                }
                node.signal(SIGTERM)
                let (status, rest) = try await node.finish()
                #expect(status == 0, "\(rest.suffix(5))")
            }
        }

        /// A node killed without stopping holds its leases until they run out, and its store no longer holds the
        /// ledger's schema: the fresh run replaced the ledger under a node that might only be paused.
        @Test("a fresh run refuses a ledger while a killed node's leases have not run out", .timeLimit(.minutes(5)))
        func aFreshRunRefusesALedgerWhileLeasesLast() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                let options = ["--database", postgres, "--partitions", "4"]
                let workload = ["--accounts", "2", "--commands", "2", "--quiet"]
                let created = try await SampleProcess.run(["run", "--database", postgres] + workload)
                try #require(created.status == 0, "\(created.standardError)")
                let node = try await SampleProcess.child(
                    ["node", "--node-id", "n1", "--heartbeat-milliseconds", "200", "--lease-milliseconds", "300000"]
                        + options)
                do {
                    try await waitUntilStarted(node)
                } catch {
                    node.signal(SIGKILL)
                    _ = try? await node.finish()
                    throw error
                }
                // The run's commands ran on the node, which holds its partitions' leases from then on.
                let run = try await SampleProcess.run(["run", "--cluster"] + options + workload)
                node.signal(SIGKILL)
                _ = try? await node.finish()
                try #require(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                _ = try await psql("TRUNCATE \(schema)_cluster.jobs, \(schema)_cluster.inbox")
                let before = try await contents(ofSchema: schema)
                let refused = try await SampleProcess.run(["run", "--database", postgres] + workload)
                #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                let said = refused.standardError
                #expect(said.contains("node of the ledger's cluster is live"), "\(said)")
                #expect(try await contents(ofSchema: schema) == before)
            }
        }

        /// An import into the schema of a dropped ledger made a new log beside the cluster's state of the old one in
        /// `<schema>_cluster`: the transfer process manager's checkpoint stood past the imported log's end, so the
        /// nodes would skip its transfer requests, and the inbox held the results of the old log's commands.
        @Test(
            "import refuses a schema whose cluster holds state of a log, and changes nothing; once cleared, it imports",
            .timeLimit(.minutes(10)))
        func importRefusesASchemaWithClusterState() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                let cluster = schema + "_cluster"
                cleanup.dropSchema(schema)
                cleanup.dropSchema(cluster)
                let options = ["--database", postgres, "--partitions", "4"]
                let workload = ["--accounts", "5", "--commands", "60", "--quiet"]
                let created = try await SampleProcess.run(["run", "--database", postgres] + workload)
                try #require(created.status == 0, "\(created.standardError)")
                try await SampleProcess.withTemporaryDirectory { directory in
                    // A backup of the ledger, taken before its cluster ran on it.
                    let backup = directory.appendingPathComponent("backup.jsonl").path
                    let exported = try await SampleProcess.run(["export", "--database", postgres, "--output", backup])
                    try #require(exported.status == 0, "\(exported.standardError)")
                    let importing = ["import", "--input", backup, "--database", postgres]
                    try await withNode(options) {
                        let run = try await SampleProcess.run(["run", "--cluster", "--transfers"] + options + workload)
                        try #require(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                        // The ledger, with a live node on it: import writes only a new store.
                        let ledger = try await contents(ofSchema: schema)
                        let refused = try await SampleProcess.run(importing)
                        #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                        #expect(try await contents(ofSchema: schema) == ledger)
                    }
                    let checkpoint = try await psql(
                        "SELECT checkpoint FROM \(cluster).jobs WHERE name = 'ledger-transfers'")
                    try #require(
                        Int(checkpoint.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 0, "\(checkpoint)")

                    // The ledger dropped to restore the backup; its cluster's state stays in the cluster's schema.
                    _ = try await psql("DROP SCHEMA \(schema) CASCADE")
                    let clusterBefore = try await contents(ofSchema: cluster)
                    let refused = try await SampleProcess.run(importing)
                    let past = try await jobsPastTheLog(of: schema, cluster: cluster)
                    #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)\(past)")
                    #expect(refused.standardError.contains(cluster), "\(refused.standardError)")
                    #expect(refused.standardError.contains("TRUNCATE"), "\(refused.standardError)")
                    #expect(refused.standardError.contains("nothing was changed"), "\(refused.standardError)")
                    #expect(past.isEmpty, "\(past)")
                    let tables = try await psql("SELECT count(*) FROM pg_tables WHERE schemaname = '\(schema)'")
                    #expect(tables.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(tables)")
                    #expect(try await contents(ofSchema: cluster) == clusterBefore)

                    // Cleared as the refusal says, the backup is imported, and the cluster carries out its transfers.
                    _ = try await psql("TRUNCATE \(cluster).jobs, \(cluster).inbox")
                    let imported = try await SampleProcess.run(importing)
                    #expect(imported.status == 0, "\(imported.standardOutput)\(imported.standardError)")
                    try await withNode(options) {
                        let run = try await SampleProcess.run(["run", "--cluster", "--transfers"] + options + workload)
                        #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                    }
                }
            }
        }

        /// A node killed without stopping holds its leases until they run out: an import into the schema of a
        /// dropped ledger made a new log under a node that might only be paused.
        @Test("import refuses a schema while a killed node's leases of its cluster have not run out", .timeLimit(.minutes(5)))
        func importRefusesASchemaWhileLeasesLast() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                let cluster = schema + "_cluster"
                cleanup.dropSchema(schema)
                cleanup.dropSchema(cluster)
                let options = ["--database", postgres, "--partitions", "4"]
                let workload = ["--accounts", "2", "--commands", "2", "--quiet"]
                let created = try await SampleProcess.run(["run", "--database", postgres] + workload)
                try #require(created.status == 0, "\(created.standardError)")
                try await SampleProcess.withTemporaryDirectory { directory in
                    let backup = directory.appendingPathComponent("backup.jsonl").path
                    let exported = try await SampleProcess.run(["export", "--database", postgres, "--output", backup])
                    try #require(exported.status == 0, "\(exported.standardError)")
                    let node = try await SampleProcess.child(
                        ["node", "--node-id", "n1", "--heartbeat-milliseconds", "200", "--lease-milliseconds", "300000"]
                            + options)
                    // The run's commands ran on the node, which holds its partitions' leases from then on.
                    let run = try await SampleProcess.run(["run", "--cluster"] + options + workload)
                    node.signal(SIGKILL)
                    _ = try? await node.finish()
                    try #require(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                    _ = try await psql("TRUNCATE \(cluster).jobs, \(cluster).inbox")
                    _ = try await psql("DROP SCHEMA \(schema) CASCADE")
                    let clusterBefore = try await contents(ofSchema: cluster)
                    let refused = try await SampleProcess.run(["import", "--input", backup, "--database", postgres])
                    #expect(refused.status == 2, "\(refused.standardOutput)\(refused.standardError)")
                    let said = refused.standardError
                    #expect(said.contains("node of the ledger's cluster is live"), "\(said)")
                    #expect(said.contains("nothing was changed"), "\(said)")
                    let tables = try await psql("SELECT count(*) FROM pg_tables WHERE schemaname = '\(schema)'")
                    #expect(tables.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(tables)")
                    #expect(try await contents(ofSchema: cluster) == clusterBefore)
                }
            }
        }

        /// A node's store creates the ledger's store as it starts, where the schema holds none. A `run --cluster`
        /// started with the node on a new schema found no store, then created the ledger in a transaction that met the
        /// store the node had made meanwhile, took it for a store the sample did not create, and refused. strace stops
        /// the run (SIGSTOP) as it opens each connection to the server, and the test lets it go on at once, except at
        /// its second, the creation's: the node starts first, and its store is there when the run goes on.
        @Test(
            "run --cluster started with a node on a new schema runs on the store the node made meanwhile",
            .enabled(
                if: ProcessInfo.processInfo.environment["CI"] == "true"
                    || FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"),
                "needs strace"),
            .timeLimit(.minutes(3)))
        func clusterRunMeetingTheNodesNewStore() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                try await SampleProcess.withTemporaryDirectory { directory in
                    let trace = directory.appendingPathComponent("trace.txt").path
                    let options = ["--database", postgres, "--partitions", "4"]
                    let run = try await ChildProcess.start(
                        "/usr/bin/strace",
                        [
                            "-f", "-qq", "-o", trace, "-e", "trace=connect", "-e", "inject=connect:signal=SIGSTOP",
                            try SampleProcess.executable.path, "run", "--cluster", "--accounts", "4", "--commands", "8",
                            "--quiet",
                        ] + options)
                    let stop = "--- SIGSTOP {"
                    // Lets the run go on from its `stops`-th stop, once strace has stopped it: SIGCONT to the thread
                    // that took the SIGSTOP (which strace names first on its line) goes to the whole process.
                    @Sendable func resume(after stops: Int) async throws -> Int32 {
                        let contents = try await FileGrowth.wait(
                            for: trace, toContain: stop, times: stops, within: .seconds(60))
                        let line = contents.split(separator: "\n").filter { $0.contains(stop) }[stops - 1]
                        guard let thread = Int32(line.prefix { $0.isNumber }) else {
                            throw SampleTestError("no thread id on strace's line \(line)")
                        }
                        kill(thread, SIGCONT)
                        return thread
                    }
                    // The first connection looks at the schema, which holds nothing.
                    let sample = try await resume(after: 1)
                    try await FileGrowth.wait(for: trace, toContain: stop, times: 2, within: .seconds(60))
                    let node = try await SampleProcess.child(
                        ["node", "--node-id", "n1", "--heartbeat-milliseconds", "200", "--lease-milliseconds", "2000"]
                            + options)
                    let status: Int32
                    let rest: [String]
                    do {
                        try await waitUntilStarted(node)
                        let tables = try await psql(
                            "SELECT count(*) FROM pg_tables WHERE schemaname = '\(schema)' AND tablename = 'events'")
                        try #require(tables == "1\n", "the node's store is not there: \(tables)")
                        // The node's store is there: the run goes on from its second stop, and from each later one.
                        let resumer = Task {
                            var stops = 2
                            while !Task.isCancelled {
                                _ = try await resume(after: stops)
                                stops += 1
                            }
                        }
                        defer { resumer.cancel() }
                        (status, rest) = try await run.finish()
                    } catch {
                        kill(sample, SIGKILL)
                        run.signal(SIGKILL)
                        _ = try? await run.finish()
                        node.signal(SIGKILL)
                        _ = try? await node.finish()
                        throw error
                    }
                    node.signal(SIGTERM)
                    let (nodeStatus, nodeRest) = try await node.finish()
                    let said = await node.remainingOutputLines().joined(separator: "\n")
                    #expect(status == 0, "\(rest)")
                    #expect(nodeStatus == 0, "\(nodeRest.suffix(5))")
                    // The run's commands went through the inbox the node serves, on the node's store: the run created
                    // no ledger of its own.
                    #expect(said.contains("commands run") && !said.contains("stopped: 0 commands run"), "\(said)")
                    let marks = try await psql(
                        "SELECT count(*) FROM \"\(schema)\".checkpoints WHERE consumer = 'whizbang-sample.ledger'")
                    #expect(marks == "0\n")
                }
            }
        }

        /// The jobs of `cluster` whose checkpoint stands past the end of the log in `schema` ("" when none, or when
        /// `schema` holds no log).
        private func jobsPastTheLog(of schema: String, cluster: String) async throws -> String {
            let log = try await psql("SELECT count(*) FROM pg_tables WHERE schemaname = '\(schema)' AND tablename = 'events'")
            guard log.trimmingCharacters(in: .whitespacesAndNewlines) == "1" else { return "" }
            let head = try await psql("SELECT coalesce(max(position), 0) FROM \(schema).events")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let past = try await psql(
                "SELECT string_agg(name || ' at ' || checkpoint, ', ') FROM \(cluster).jobs WHERE checkpoint > \(head)")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return past.isEmpty ? "" : "; the log ends at \(head), the cluster's jobs stand past it: \(past)"
        }

        /// Reads `node`'s standard error until it says it started; fails if it ends first.
        private func waitUntilStarted(_ node: ChildProcess) async throws {
            var lines: [String] = []
            while lines.last?.contains("node started") != true, let line = await node.nextErrorLine() {
                lines.append(line)
            }
            try #require(lines.last?.contains("node started") == true, "\(lines.suffix(5))")
        }

        /// Runs `body` while `serve` runs on `postgres`, giving it a function that sends `GET path` to the serve and
        /// returns the whole response; stops the serve with SIGTERM after (with SIGKILL when `body` throws).
        private func whileServing(
            _ postgres: String, _ body: (_ get: (String) async throws -> String) async throws -> Void
        ) async throws {
            let serving = try await SampleProcess.child(["serve", "--database", postgres, "--port", "0"])
            do {
                let line = try #require(await serving.nextOutputLine())
                let port = try #require(line.split(separator: ":").last.flatMap { Int($0.dropLast()) }, "\(line)")
                try await body { path in
                    let client = LoopbackClient()
                    defer { client.close() }
                    try client.connect(port)
                    try client.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    return try await client.read(until: nil)
                }
            } catch {
                serving.signal(SIGKILL)
                _ = try? await serving.exitStatus()
                throw error
            }
            serving.signal(SIGTERM)
            _ = try await serving.exitStatus()
        }

        /// Runs `body` with the URL and schema of a fresh ledger on which a node of 8 partitions ran and stopped
        /// (its cluster's tables made, its one node row marked stopped); drops both schemas after.
        private func withStoppedCluster(_ body: (String, String) async throws -> Void) async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                try await withNode(["--database", postgres, "--partitions", "8"]) {}
                try await body(postgres, schema)
            }
        }

        /// Runs `body` while a `node` runs with `options`, then stops the node gracefully.
        private func withNode(_ options: [String], _ body: () async throws -> Void) async throws {
            let timings = ["--heartbeat-milliseconds", "200", "--lease-milliseconds", "2000"]
            let node = try await SampleProcess.child(["node", "--node-id", "n1"] + timings + options)
            do {
                try await waitUntilStarted(node)
                try await body()
            } catch {
                node.signal(SIGKILL)
                _ = try? await node.finish()
                throw error
            }
            node.signal(SIGTERM)
            let (status, rest) = try await node.finish()
            #expect(status == 0, "\(rest.suffix(5))")
        }

        /// With no node running, the commands of `run --cluster` wait in the inbox: a SIGINT stopped the admission,
        /// but the run went on waiting for their results up to their time limit (two minutes), then failed.
        @Test("run --cluster stops soon after SIGINT when no node answers, naming the commands left in the inbox",
            .timeLimit(.minutes(1)))
        func clusterRunStopsWithoutANode() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                let child = try await SampleProcess.child(
                    ["run", "--cluster", "--database", postgres, "--partitions", "4", "--accounts", "10",
                     "--commands", "10", "--quiet"])
                var lines: [String] = []
                while let line = await child.nextErrorLine() {
                    lines.append(line)
                    if line.contains("no node of the cluster is running") { break }
                }
                try #require(lines.last?.contains("no node of the cluster is running") == true, "\(lines)")
                // The run sends the ten opens next; nothing but the inbox shows when they are in it, so it is looked
                // at (each look a psql process, which paces the loop) until they are.
                let url = try #require(ProcessInfo.processInfo.environment["WHIZBANG_POSTGRES_URL"])
                let deadline = ContinuousClock.now + .seconds(30)
                var pending = ""
                while pending != "10", ContinuousClock.now < deadline {
                    let look = try await SampleProcess.tool(
                        "psql",
                        [url, "-X", "-q", "-A", "-t", "-c", "SELECT count(*) FROM \(schema)_cluster.inbox WHERE status = 0"])
                    // Before the run has made the cluster's tables, the query fails: look again.
                    pending = look.status == 0 ? look.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) : ""
                }
                try #require(pending == "10", "the inbox held \(pending) pending commands after 30 s")
                child.signal(SIGINT)
                let (status, rest) = try await child.finish()
                let text = (lines + rest).joined(separator: "\n")
                #expect(status == 128 + SIGINT, "\(text)")
                #expect(text.contains("10 commands sent to the cluster's inbox had no result"), "\(text)")
            }
        }

        @Test(
            "import killed with SIGKILL at random moments leaves the schema without tables; the next import succeeds",
            .timeLimit(.minutes(10)))
        func importKilled() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                try await SampleProcess.withTemporaryDirectory { directory in
                    let input = directory.appendingPathComponent("good.jsonl")
                    try ImportFixture.write(ImportFixture.good(streams: 2_000, perStream: 10), to: input)
                    for attempt in 1...4 {
                        // 20,000 events: the check reports every 1,024 lines, the restore every 4,096 events.
                        let lines = Int.random(in: 0...24)
                        let child = try await SampleProcess.child([
                            "import", "--input", input.path, "--database", postgres, "--progress-lines",
                        ])
                        var seen = 0
                        while seen < lines, let line = await child.nextErrorLine() {
                            if line.hasPrefix("import: ") || line.hasPrefix("check: ") { seen += 1 }
                        }
                        child.signal(SIGKILL)
                        let (status, rest) = try await child.finish()
                        if status == 0 {
                            _ = try await psql("DROP SCHEMA IF EXISTS \(schema) CASCADE")
                            continue
                        }
                        #expect(status == SIGKILL, "attempt \(attempt) after \(lines) lines: \(rest)")
                        // The server ends the killed client's transaction when it reads the closed connection; the next
                        // import waits for that on the migration lock, so only a committed import could show here.
                        let tables = try await psql("SELECT count(*) FROM pg_tables WHERE schemaname = '\(schema)'")
                        if !tables.hasPrefix("0") {
                            // Killed after its commit and before it exited: then the whole import is there.
                            let events = try await psql("SELECT count(*) FROM \(schema).events")
                            #expect(
                                events.hasPrefix("20000"), "attempt \(attempt) after \(lines) lines: \(events) events")
                            _ = try await psql("DROP SCHEMA IF EXISTS \(schema) CASCADE")
                        }
                    }
                    let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", postgres])
                    #expect(imported.status == 0, "\(imported.standardError)")
                    #expect(imported.standardOutput.hasPrefix("imported 20,000 events"), "\(imported.standardOutput)")
                    #expect(try await psql("SELECT count(*) FROM \(schema).events").hasPrefix("20000"))
                }
            }
        }

        @Test(
            "inspect, verify, export and replay work for a role that may only SELECT; writing is refused; nothing changes",
            .timeLimit(.minutes(10)))
        func readOnlyCommandsNeedOnlySelect() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_cluster")
                let run = try await SampleProcess.run([
                    "run", "--database", postgres, "--accounts", "20", "--commands", "300", "--quiet",
                ])
                try #require(run.status == 0, "\(run.standardError)")
                let role = "reader_\(schema)"
                _ = try await psql(
                    "CREATE ROLE \(role) LOGIN PASSWORD 'reader-password'; GRANT USAGE ON SCHEMA \(schema) TO \(role); "
                        + "GRANT SELECT ON ALL TABLES IN SCHEMA \(schema) TO \(role)")
                cleanup.run("DROP OWNED BY \(role); DROP ROLE IF EXISTS \(role)")
                var components = try #require(URLComponents(string: postgres))
                components.user = role
                components.password = "reader-password"
                let reader = try #require(components.string)
                let before = try await contents(ofSchema: schema)
                try await SampleProcess.withTemporaryDirectory { directory in
                    let export = directory.appendingPathComponent("out.jsonl").path
                    for arguments in [
                        ["inspect"], ["verify"], ["replay"], ["export", "--output", export],
                    ] {
                        let output = try await SampleProcess.run(arguments + ["--database", reader])
                        #expect(output.status == 0, "\(arguments): \(output.standardOutput)\(output.standardError)")
                    }
                    #expect(try String(contentsOfFile: export, encoding: .utf8).split(separator: "\n").count > 300)

                    // Writing is refused, naming the role, the server's words and what to grant. Before, `run --keep`
                    // and `node` gave the server's words alone ("PostgreSQL error 42501: permission denied for table
                    // streams", "... for database").
                    for arguments in [
                        ["run", "--keep", "--accounts", "10", "--commands", "20", "--quiet"], ["node", "--node-id", "n1"],
                    ] {
                        let output = try await SampleProcess.run(arguments + ["--database", reader])
                        let said = "\(arguments): \(output.standardOutput)\(output.standardError)"
                        #expect(output.status != 0, "\(said)")
                        #expect(output.standardError.contains("role \(role) lacks a privilege"), "\(said)")
                        #expect(output.standardError.contains("42501"), "\(said)")
                        #expect(output.standardError.contains("GRANT"), "\(said)")
                    }
                    let clusters = try await psql(
                        "SELECT count(*) FROM pg_namespace WHERE nspname = '\(schema)_cluster'")
                    #expect(clusters.hasPrefix("0"))

                    // A schema that is missing, empty, or someone else's: refused, exit status 2, nothing created.
                    let missing = "missing_\(schema)"
                    let empty = "empty_\(schema)"
                    let foreign = "foreign_\(schema)"
                    cleanup.dropSchema(missing)
                    cleanup.dropSchema(foreign)
                    cleanup.dropSchema(empty)
                    _ = try await psql(
                        "CREATE SCHEMA \(empty); CREATE SCHEMA \(foreign); "
                            + "CREATE TABLE \(foreign).customers (id int PRIMARY KEY, name text); "
                            + "INSERT INTO \(foreign).customers VALUES (1, 'Ada'); "
                            + "GRANT USAGE ON SCHEMA \(empty), \(foreign) TO \(role); "
                            + "GRANT SELECT ON ALL TABLES IN SCHEMA \(foreign) TO \(role)")
                    let foreignBefore = try await contents(ofSchema: foreign)
                    for other in [missing, empty, foreign] {
                        for user in [reader, postgres] {
                            let url = user.replacingOccurrences(of: "schema=\(schema)", with: "schema=\(other)")
                            for arguments in [["inspect"], ["verify"], ["replay"], ["export", "--output", export + "-\(other)"]] {
                                let output = try await SampleProcess.run(arguments + ["--database", url])
                                #expect(output.status == 2, "\(other) \(arguments): \(output.standardOutput)\(output.standardError)")
                                #expect(output.standardError.contains("--database"), "\(output.standardError)")
                                #expect(!FileManager.default.fileExists(atPath: export + "-\(other)"))
                            }
                        }
                    }
                    #expect(try await psql("SELECT count(*) FROM pg_namespace WHERE nspname = '\(missing)'").hasPrefix("0"))
                    #expect(try await psql("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '\(empty)'").hasPrefix("0"))
                    #expect(try await contents(ofSchema: foreign) == foreignBefore)
                }
                #expect(try await contents(ofSchema: schema) == before)
            }
        }

        /// Before, a role without SELECT on the store's tables saw none of their columns in `information_schema`, and
        /// was told that the schema "holds objects that are not a Whizbang store's (checkpoints, events, …)".
        @Test(
            "inspect, verify, export and replay say which privilege the role lacks on the store's tables",
            .timeLimit(.minutes(5)))
        func readOnlyCommandsNameAMissingPrivilege() async throws {
            try await withCleanup { cleanup in
                let (postgres, schema) = try await smallLedger(cleanup)
                let role = "usage_\(schema)"
                _ = try await psql(
                    "CREATE ROLE \(role) LOGIN PASSWORD 'usage-password'; GRANT USAGE ON SCHEMA \(schema) TO \(role)")
                cleanup.run("DROP OWNED BY \(role); DROP ROLE IF EXISTS \(role)")
                var components = try #require(URLComponents(string: postgres))
                components.user = role
                components.password = "usage-password"
                let user = try #require(components.string)
                let before = try await contents(ofSchema: schema)
                try await SampleProcess.withTemporaryDirectory { directory in
                    let export = directory.appendingPathComponent("out.jsonl").path
                    // No SELECT at all, then SELECT on schema_version alone (the store's version reads, its log not).
                    for grant in ["", "GRANT SELECT ON \(schema).schema_version TO \(role)"] {
                        if !grant.isEmpty { _ = try await psql(grant) }
                        for arguments in [["inspect"], ["verify"], ["replay"], ["export", "--output", export]] {
                            let output = try await SampleProcess.run(arguments + ["--database", user])
                            let said = "\(arguments) \(grant): \(output.standardOutput)\(output.standardError)"
                            #expect(output.status == 2, "\(said)")
                            #expect(output.standardError.contains("role \(role) lacks the SELECT privilege"), "\(said)")
                            #expect(output.standardError.contains("nothing was changed"), "\(said)")
                            #expect(!output.standardError.contains("not a Whizbang store"), "\(said)")
                            #expect(!FileManager.default.fileExists(atPath: export))
                        }
                    }
                }
                #expect(try await contents(ofSchema: schema) == before)
            }
        }

        /// A server that takes no more connections answered 53300, which came out as the server's words with exit
        /// status 1, where a server that could not be reached is a refusal (exit status 2: nothing was touched).
        @Test("a server that takes no more connections for the role is one clear line and exit status 2")
        func noMoreConnections() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let role = "limited_\(try schemaName(postgres))"
                _ = try await psql("CREATE ROLE \(role) LOGIN PASSWORD 'limited-password' CONNECTION LIMIT 0")
                cleanup.run("DROP ROLE IF EXISTS \(role)")
                var components = try #require(URLComponents(string: postgres))
                components.user = role
                components.password = "limited-password"
                let output = try await SampleProcess.run(["verify", "--database", try #require(components.string)])
                #expect(output.status == 2, "\(output.standardError)")
                #expect(
                    output.standardError.contains("takes no more connections from role \(role) (PostgreSQL error 53300")
                        && output.standardError.contains("ALTER ROLE \(role) CONNECTION LIMIT"),
                    "\(output.standardError)")
            }
        }

        /// A server that resets every connection (a listener that accepts and closes at once, standing in for one
        /// that crashes as it is reached) was "cannot reach PostgreSQL at … (cannot reach PostgreSQL at …: …)"
        /// when it read first, and "lost the connection" with exit status 1 when it did not, though nothing was
        /// asked.
        @Test("a connection reset or closed as it is made is said once, as a refusal", arguments: [true, false])
        func aResetConnectionIsSaidOnce(readsFirst: Bool) async throws {
            let listener = try await Python.start(
                """
                import socket, struct, sys
                server = socket.socket()
                server.bind(("127.0.0.1", 0))
                server.listen(16)
                print(server.getsockname()[1], flush=True)
                server.settimeout(120)
                while True:
                    connection, _ = server.accept()
                    if sys.argv[1] == "reads-first":
                        connection.recv(100)
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    connection.close()
                """, [readsFirst ? "reads-first" : "closes"])
            defer { listener.signal(SIGKILL) }
            let port = try #require(await listener.nextOutputLine())
            let output = try await SampleProcess.run([
                "verify", "--database", "postgres://someone:secret@127.0.0.1:\(port)/postgres?sslmode=disable",
            ])
            #expect(output.status == 2, "\(output.standardError)")
            #expect(output.standardError.split(separator: "\n").count == 1, "\(output.standardError)")
            #expect(
                output.standardError.components(separatedBy: "PostgreSQL at 127.0.0.1:\(port)").count == 2,
                "\(output.standardError)")
        }

        /// The store's schema renamed while a run writes: the run stopped with the server's "relation \"streams\"
        /// does not exist" (or its append procedure's), which reads as if the tables were gone, and without the line
        /// every other failure of a run ends with.
        @Test(
            "a run whose schema is renamed under it says so, and that the commands completed before are in the ledger",
            .timeLimit(.minutes(5)))
        func schemaRenamedUnderARun() async throws {
            try await withCleanup { cleanup in
                let postgres = try freshURL()
                let schema = try schemaName(postgres)
                cleanup.dropSchema(schema)
                cleanup.dropSchema(schema + "_moved")
                let first = try await SampleProcess.run([
                    "run", "--database", postgres, "--accounts", "50", "--commands", "50", "--quiet",
                ])
                try #require(first.status == 0, "\(first.standardError)")
                try await SampleProcess.withTemporaryDirectory { directory in
                    let acks = directory.appendingPathComponent("acks.log").path
                    let run = try await SampleProcess.child([
                        "run", "--keep", "--database", postgres, "--accounts", "50", "--commands", "10000000",
                        "--quiet", "--ack-log", acks,
                    ])
                    // Renamed once the run has acknowledged commands.
                    try await FileGrowth.wait(for: acks, toContain: "\n", times: 500, within: .seconds(120))
                    _ = try await psql("ALTER SCHEMA \(schema) RENAME TO \(schema)_moved")
                    let errors = await run.remainingErrorLines().joined(separator: "\n")
                    let status = try await run.exitStatus()
                    #expect(status == 1, "\(errors)")
                    #expect(errors.contains("no longer finds in"), "\(errors)")
                    #expect(errors.contains("the commands completed before are in the ledger"), "\(errors)")
                }
            }
        }

        @Test("a server that asks for a password that was not given is one clear line and exit status 2")
        func missingPassword() async throws {
            let postgres = try freshURL()
            var components = try #require(URLComponents(string: postgres))
            components.password = nil
            let output = try await SampleProcess.run(
                try SampleProcess.executable, ["verify", "--database", try #require(components.string)],
                removing: ["PGPASSWORD"])
            #expect(output.status == 2, "\(output.standardError)")
            #expect(
                output.standardError
                    == "error: the server asks for a password: give it in the URL, PGPASSWORD or ~/.pgpass\n",
                "\(output.standardError)")
        }

        /// A server that asked for an authentication method the client does not speak (GSSAPI, say) was "PostgreSQL
        /// client error unsupportedAuthMechanism" with exit status 1, where every other refused connection exits 2.
        @Test("a server that asks for an authentication method the client lacks is one clear line and exit status 2")
        func unsupportedAuthentication() async throws {
            // Answers every startup message with AuthenticationGSS (R, length 8, code 7), then closes.
            let server = try await ChildProcess.start(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    """
                    import socket, struct, sys
                    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
                    print(s.getsockname()[1], flush=True)
                    s.settimeout(60)
                    while True:
                        try: c, _ = s.accept()
                        except socket.timeout: sys.exit(0)
                        c.settimeout(5)
                        try:
                            n = struct.unpack("!I", c.recv(4))[0]; c.recv(n - 4)
                            c.sendall(b"R" + struct.pack("!II", 8, 7))
                        except OSError: pass
                        c.close()
                    """,
                ])
            defer { server.signal(SIGKILL) }
            let port = try #require(await server.nextOutputLine())
            let output = try await SampleProcess.run(
                ["verify", "--database", "postgres://whizbang:secret@127.0.0.1:\(port)/postgres?sslmode=disable"])
            #expect(output.status == 2, "\(output.standardError)")
            #expect(
                output.standardError.contains("for an authentication method this client does not support")
                    && output.standardError.split(separator: "\n").count == 1, "\(output.standardError)")
        }

        /// A server without TLS under `sslmode=require` was "PostgreSQL client error sslUnsupported", and a database
        /// that does not exist the server's SQLSTATE, both with exit status 1: neither said what to change.
        @Test("a server without TLS under sslmode=require, and a database that does not exist, are one clear line each")
        func tlsAndMissingDatabase() async throws {
            let postgres = try freshURL()
            var components = try #require(URLComponents(string: postgres))
            let host = "\(try #require(components.host)):\(try #require(components.port))"
            let query = (components.queryItems ?? []).filter { $0.name != "sslmode" }
            components.queryItems = query + [URLQueryItem(name: "sslmode", value: "require")]
            let tls = try #require(components.string)
            components.queryItems = query + [URLQueryItem(name: "sslmode", value: "disable")]
            components.path = "/whizbang_no_such_database"
            let missing = try #require(components.string)
            // The test server runs without TLS (scripts/postgres-server.sh).
            for command in [["verify"], ["run", "--commands", "10"], ["cluster"]] {
                let refused = try await SampleProcess.run(command + ["--database", tls])
                #expect(refused.status == 2, "\(command): \(refused.standardError)")
                #expect(
                    refused.standardError
                        == "error: PostgreSQL at \(host) does not accept TLS connections, which sslmode=require asks "
                        + "for: give sslmode=prefer or sslmode=disable in the URL, or turn on ssl in the server's settings\n",
                    "\(command): \(refused.standardError)")
                let absent = try await SampleProcess.run(command + ["--database", missing])
                #expect(absent.status == 2, "\(command): \(absent.standardError)")
                #expect(
                    absent.standardError
                        == "error: PostgreSQL at \(host) has no database whizbang_no_such_database: create it (createdb), "
                        + "or name another in the URL\n",
                    "\(command): \(absent.standardError)")
            }
        }

        /// A root certificate that cannot be loaded gave `PostgreSQL client error: NIOSSLError` (or `BoringSSLError`)
        /// with exit status 1.
        @Test("a TLS root certificate that is missing or not a certificate is one clear line and exit status 2")
        func unusableRootCertificate() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let garbage = directory.appendingPathComponent("garbage.pem").path
                try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: garbage))
                var components = try #require(URLComponents(string: try freshURL()))
                let host = "\(try #require(components.host)):\(try #require(components.port))"
                let query = (components.queryItems ?? []).filter { $0.name != "sslmode" }
                for certificate in [directory.appendingPathComponent("missing.pem").path, garbage] {
                    components.queryItems =
                        query + [URLQueryItem(name: "sslmode", value: "verify-full"), URLQueryItem(name: "sslrootcert", value: certificate)]
                    let url = try #require(components.string)
                    for command in [["verify"], ["inspect"]] {
                        let refused = try await SampleProcess.run(command + ["--database", url])
                        #expect(refused.status == 2, "\(command): \(refused.standardError)")
                        #expect(
                            refused.standardError
                                == "error: TLS with PostgreSQL at \(host) could not be set up under sslmode=verify-full: "
                                + "check sslrootcert=\(certificate) (a readable PEM file of the authority that signed the "
                                + "server's certificate) and the server's certificate\n",
                            "\(command): \(refused.standardError)")
                    }
                }
            }
        }
    }
}
