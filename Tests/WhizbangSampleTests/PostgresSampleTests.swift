import Foundation
import Testing

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
    func sameOutcomeAsSQLite() throws {
        let postgres = try freshURL()
        try SampleProcess.withTemporaryDirectory { directory in
            var results: [[String: Any]] = []
            for database in [directory.appendingPathComponent("ledger.sqlite").path, postgres] {
                let output = try SampleProcess.run([
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
            let verify = try SampleProcess.run(["verify", "--database", postgres])
            #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
            let replay = try SampleProcess.run(["replay", "--database", postgres, "--json"])
            #expect(replay.status == 0, "\(replay.standardOutput)\(replay.standardError)")
            #expect(try replay.json["total"] as? Int == results[0]["total"] as? Int)
        }
    }

    @Test("export from SQLite, import into PostgreSQL gives the identical log")
    func exportFromSQLiteImportIntoPostgres() throws {
        let postgres = try freshURL()
        try SampleProcess.withTemporaryDirectory { directory in
            let original = directory.appendingPathComponent("original.sqlite").path
            let first = directory.appendingPathComponent("first.jsonl").path
            let second = directory.appendingPathComponent("second.jsonl").path
            let run = try SampleProcess.run([
                "run", "--database", original, "--accounts", "100", "--commands", "2000", "--transfers",
                "--durability", "normal", "--quiet",
            ])
            #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
            #expect(try SampleProcess.run(["export", "--database", original, "--output", first]).status == 0)
            let imported = try SampleProcess.run(["import", "--input", first, "--database", postgres])
            #expect(imported.status == 0, "\(imported.standardOutput)\(imported.standardError)")
            // A second import into the same store is refused: import writes a new store.
            #expect(try SampleProcess.run(["import", "--input", first, "--database", postgres]).status != 0)
            #expect(try SampleProcess.run(["export", "--database", postgres, "--output", second]).status == 0)
            try SampleProcess.expectSameExports(first, second)
            let verify = try SampleProcess.run(["verify", "--database", postgres])
            #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
        }
    }

    @Test("a password in the URL never appears in the sample's output")
    func passwordStaysOutOfOutput() throws {
        let postgres = try freshURL()
        let run = try SampleProcess.run([
            "run", "--database", postgres, "--accounts", "20", "--commands", "100", "--quiet",
        ])
        #expect(run.status == 0, "\(run.standardError)")
        let inspect = try SampleProcess.run(["inspect", "--database", postgres])
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
