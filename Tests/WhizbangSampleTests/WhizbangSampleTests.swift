import Foundation
import ProcessTesting
import Testing

extension SampleProcessSuites {
    @Suite("WhizbangSample, run as a process", .serialized)
    struct WhizbangSampleTests {
        @Test("MT19937 seeded like CPython: the first six outputs for seed 42")
        func mersenneTwisterMatchesCPython() async throws {
            let output = try await SampleProcess.run(["selftest"])
            #expect(output.status == 0, "\(output.standardError)")
            #expect(output.standardOutput.contains("2746317213 478163327 107420369 3184935163 1181241943 1051802512"))
            // CPython: random.Random(2**32 + 5).getrandbits(32) — a seed past 32 bits is two key words.
            #expect(output.standardOutput.contains("seed 2^32+5: 675479763"))
        }

        @Test("--concurrency 1 and 256 give identical outcomes, equal to CPython's one-at-a-time reference")
        func concurrencyDoesNotChangeTheOutcome() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                var results: [[String: Any]] = []
                for concurrency in [1, 256] {
                    let output = try await SampleProcess.run([
                        "run", "--database", directory.appendingPathComponent("c\(concurrency).sqlite").path,
                        "--accounts", "1000", "--commands", "20000", "--initial-deposit", "50",
                        "--concurrency", "\(concurrency)", "--durability", "normal", "--json", "--quiet",
                    ])
                    #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
                    results.append(try output.json)
                }
                for key in ["accepted", "rejected", "deposits", "depositSum", "withdrawals", "withdrawSum", "total", "events"] {
                    #expect(results[0][key] as? Int == results[1][key] as? Int, "\(key)")
                }
                // The same workload simulated one command at a time in CPython with random.Random(42).
                #expect(results[1]["accepted"] as? Int == 17_676)
                #expect(results[1]["rejected"] as? Int == 2_324)
                #expect(results[1]["depositSum"] as? Int == 505_982)
                #expect(results[1]["withdrawSum"] as? Int == 347_834)
                #expect(results[1]["total"] as? Int == 208_148)
                #expect(results[1]["events"] as? Int == 18_676)
                #expect(results[1]["ok"] as? Bool == true)
            }
        }

        @Test("transfers: money is conserved, each transfer completed, failed or compensated")
        func transfers() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let database = directory.appendingPathComponent("transfers.sqlite").path
                let output = try await SampleProcess.run([
                    "run", "--database", database, "--accounts", "200", "--commands", "3000", "--initial-deposit", "50",
                    "--transfers", "--durability", "normal", "--json", "--quiet",
                ])
                #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
                let json = try output.json
                #expect((json["transfersCompleted"] as? Int ?? 0) > 0)
                #expect((json["transfersCompensated"] as? Int ?? 0) > 0)
                let verify = try await SampleProcess.run(["verify", "--database", database])
                #expect(verify.status == 0, "\(verify.standardOutput)")
            }
        }

        @Test("verify and inspect find each command's id in the binary stored envelopes")
        func commandIDsReadFromBinaryMetadata() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let database = directory.appendingPathComponent("acked.sqlite").path
                let acks = directory.appendingPathComponent("acks").path
                let run = try await SampleProcess.run([
                    "run", "--database", database, "--accounts", "20", "--commands", "400", "--durability", "normal",
                    "--ack-log", acks, "--quiet",
                ])
                #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                let verify = try await SampleProcess.run(["verify", "--database", database, "--ack-log", acks])
                #expect(verify.status == 0, "\(verify.standardOutput)")
                #expect(verify.standardOutput.contains("420 acknowledged commands checked"), "\(verify.standardOutput)")
                // Every event's row names the command that recorded it; the store holds the binary form.
                // The first acknowledgement, after the line that names the ledger.
                let lines = try String(contentsOfFile: acks, encoding: .utf8).split(separator: "\n")
                let parts = try #require(lines.dropFirst().first).split(separator: " ")
                let inspect = try await SampleProcess.run([
                    "inspect", "--database", database, "--stream", String(try #require(parts.last)),
                ])
                #expect(inspect.status == 0, "\(inspect.standardError)")
                #expect(inspect.standardOutput.contains(String(try #require(parts.first))), "\(inspect.standardOutput)")
            }
        }

        /// Each ledger command records one event, so a second event carrying a command's id is the command applied
        /// twice. Before, `verify` checked that every acknowledged command was stored, not that none was stored
        /// twice: a deposit recorded again under its own command's id passed.
        @Test("verify reports a command recorded twice")
        func verifyFindsACommandAppliedTwice() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let database = directory.appendingPathComponent("ledger.sqlite").path
                let acks = directory.appendingPathComponent("acks").path
                let run = try await SampleProcess.run([
                    "run", "--database", database, "--accounts", "3", "--commands", "30", "--durability", "normal",
                    "--ack-log", acks, "--quiet",
                ])
                #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                let exported = directory.appendingPathComponent("ledger.jsonl").path
                let export = try await SampleProcess.run(["export", "--database", database, "--output", exported])
                #expect(export.status == 0)
                var lines = try String(contentsOfFile: exported, encoding: .utf8).split(separator: "\n")
                    .map(String.init)
                #expect(lines.last?.hasPrefix(#"{"end":"#) == true)
                lines.removeLast()
                // The last deposit again, after its stream's last event, under a new event id and the same command.
                let index = try #require(lines.lastIndex { $0.contains(#""eventType":"Deposited""#) })
                var event = try #require(
                    JSONSerialization.jsonObject(with: Data(lines[index].utf8)) as? [String: Any])
                let stream = try #require(event["streamID"] as? String)
                let lastVersion = lines.compactMap { line -> Int? in
                    let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    return object?["streamID"] as? String == stream ? object?["streamVersion"] as? Int : nil
                }.max() ?? 0
                event["eventID"] = "0192f1c4-7a3e-7c3d-9a8b-0000000000ff"
                event["position"] = lines.count + 1
                event["streamVersion"] = lastVersion + 1
                let twice = try JSONSerialization.data(withJSONObject: event, options: [.sortedKeys])
                lines.append(String(decoding: twice, as: UTF8.self))
                lines.append(#"{"end":{"events":\#(lines.count)}}"#)
                let doctored = directory.appendingPathComponent("twice.jsonl").path
                try (lines.joined(separator: "\n") + "\n").write(toFile: doctored, atomically: true, encoding: .utf8)
                let copy = directory.appendingPathComponent("twice.sqlite").path
                let imported = try await SampleProcess.run(["import", "--input", doctored, "--database", copy])
                #expect(imported.status == 0, "\(imported.standardError)")
                // The imported ledger has an identity of its own, so the run's ack log is not its: verify without.
                let verify = try await SampleProcess.run(["verify", "--database", copy])
                #expect(verify.status == 1, "\(verify.standardOutput)\(verify.standardError)")
                #expect(verify.standardOutput.contains("is recorded twice"), "\(verify.standardOutput)")
                #expect(verify.standardOutput.contains("position \(lines.count - 1)"), "\(verify.standardOutput)")
                // The ledger as it was passes, its ack log too.
                let original = try await SampleProcess.run(["verify", "--database", database, "--ack-log", acks])
                #expect(original.status == 0, "\(original.standardOutput)")
            }
        }

        @Test("export then import gives an identical log")
        func exportImportRoundTrip() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let original = directory.appendingPathComponent("original.sqlite").path
                let copy = directory.appendingPathComponent("copy.sqlite").path
                let first = directory.appendingPathComponent("first.jsonl").path
                let second = directory.appendingPathComponent("second.jsonl").path
                let run = try await SampleProcess.run([
                    "run", "--database", original, "--accounts", "100", "--commands", "2000", "--durability", "normal",
                    "--quiet",
                ])
                #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
                #expect(try await SampleProcess.run(["export", "--database", original, "--output", first]).status == 0)
                let imported = try await SampleProcess.run(["import", "--input", first, "--database", copy])
                #expect(imported.status == 0, "\(imported.standardError)")
                #expect(try await SampleProcess.run(["export", "--database", copy, "--output", second]).status == 0)
                try SampleProcess.expectSameExports(first, second)
                #expect(try await SampleProcess.run(["verify", "--database", copy]).status == 0)
            }
        }

        /// Every event of the ledger is at schema version 1: a line at another version is one the ledger cannot
        /// read, which import refuses (it imported one, and `verify` then failed). An export still writes the version
        /// the store holds, here set by hand.
        @Test("export writes a stored schema version; import refuses one the ledger does not read, takes none as 1")
        func exportImportKeepsSchemaVersions() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("input.jsonl").path
                let database = directory.appendingPathComponent("imported.sqlite").path
                let output = directory.appendingPathComponent("output.jsonl").path
                // As every export before schema versions looked.
                let lines = (1...2).map {
                    ImportFixture.line(position: $0, stream: "s-0", version: $0, eventID: ImportFixture.eventID($0))
                }
                try ImportFixture.write(lines, to: URL(fileURLWithPath: input))
                let imported = try await SampleProcess.run(["import", "--input", input, "--database", database])
                try #require(imported.status == 0, "\(imported.standardError)")
                let versioned = try await SampleProcess.tool(
                    "sqlite3", [database, "UPDATE events SET schema_version = 3 WHERE position = 2;"])
                try #require(versioned.status == 0, "\(versioned.standardError)")
                #expect(try await SampleProcess.run(["export", "--database", database, "--output", output]).status == 0)
                // The first line comes back without a version (it was stored at 1), the other with 3.
                let exported = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").dropLast().map {
                    try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
                }
                #expect(exported.count == 2)
                #expect(exported.first?["schemaVersion"] == nil)
                #expect(exported.last?["schemaVersion"] as? Int == 3)
                #expect(exported.map { $0["eventID"] as? String } == [ImportFixture.eventID(1), ImportFixture.eventID(2)])
                let copy = directory.appendingPathComponent("copy.sqlite").path
                let refused = try await SampleProcess.run(["import", "--input", output, "--database", copy])
                #expect(refused.status == 1, "\(refused.standardOutput)\(refused.standardError)")
                #expect(
                    refused.standardError.contains("\(output):2: eventType 'Deposited' at schemaVersion 3 is not"),
                    "\(refused.standardError)")
                #expect(!FileManager.default.fileExists(atPath: copy))
            }
        }

        @Test("two stream ids that differ only in their bytes (two spellings of café) import as two streams")
        func streamIDsThatDifferInTheirBytesImportAsTwoStreams() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("input.jsonl").path
                let database = directory.appendingPathComponent("imported.sqlite").path
                let lines = ["caf\u{E9}", "cafe\u{301}"].enumerated().map { offset, stream in
                    ImportFixture.line(
                        position: offset + 1, stream: stream, version: 1, eventID: ImportFixture.eventID(offset + 1))
                }
                try ImportFixture.write(lines, to: URL(fileURLWithPath: input))
                let imported = try await SampleProcess.run(["import", "--input", input, "--database", database])
                #expect(imported.status == 0, "\(imported.standardError)")
                #expect(imported.standardOutput.contains("2 events in 2 streams"), "\(imported.standardOutput)")
            }
        }

        @Test(
            "errors print one clear line and exit non-zero",
            arguments: [
                (["verify", "--database", "/nonexistent/ledger.sqlite"], "no database at"),
                (["replay", "--database", "NOT_A_STORE"], "is not a Whizbang store"),
                (["run", "--no-such-flag"], "Unknown option"),
                (["run", "--concurrency", "0"], "--concurrency must be from 1 to 65536"),
                (["run", "--durability", "sometimes"], "sometimes"),
                (["node", "--inbox-retention-seconds", "130"], "--inbox-retention-seconds must be more than 130"),
                // A line break in a path is shown escaped, so that the message stays one line.
                (["verify", "--database", "/nonexistent/two\nlines.sqlite"], "no database at /nonexistent/two\\nlines"),
                (["inspect", "--database", "x"], "no database at x"),
            ])
        func errors(arguments: [String], message: String) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let notAStore = directory.appendingPathComponent("text.txt")
                try "just some text\n".write(to: notAStore, atomically: true, encoding: .utf8)
                let output = try await SampleProcess.run(arguments.map { $0 == "NOT_A_STORE" ? notAStore.path : $0 })
                #expect(output.status != 0)
                let lines = output.standardError.split(separator: "\n")
                #expect(lines.count == 1, "\(output.standardError)")
                #expect(output.standardError.hasPrefix("error: "))
                #expect(output.standardError.contains(message), "\(output.standardError)")
            }
        }

        @Test("SIGKILL at random moments loses nothing acknowledged (scripts/kill-test.sh, 10 kills)")
        func killTest() async throws {
            let script = SampleProcess.repositoryRoot.appendingPathComponent("scripts/kill-test.sh")
            try await SampleProcess.withTemporaryDirectory { directory in
                let output = try await SampleProcess.run(
                    URL(fileURLWithPath: "/bin/bash"), [script.path, try SampleProcess.executable.path],
                    environment: ["KILLS": "10", "ACCOUNTS": "200", "WORKDIR": directory.path])
                #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
                #expect(output.standardOutput.contains("10 runs killed with SIGKILL"))
                #expect(output.standardOutput.hasSuffix("ok\n"), "\(output.standardOutput)")
            }
        }

        @Test("SIGTERM stops the run cleanly and loses nothing acknowledged (scripts/term-test.sh)")
        func termTest() async throws {
            let script = SampleProcess.repositoryRoot.appendingPathComponent("scripts/term-test.sh")
            try await SampleProcess.withTemporaryDirectory { directory in
                let output = try await SampleProcess.run(
                    URL(fileURLWithPath: "/bin/bash"), [script.path, try SampleProcess.executable.path],
                    environment: ["ACCOUNTS": "200", "WORKDIR": directory.path])
                #expect(output.status == 0, "\(output.standardOutput)\(output.standardError)")
                #expect(output.standardOutput.contains("exit status 143"), "\(output.standardOutput)")
                #expect(output.standardOutput.hasSuffix("ok\n"), "\(output.standardOutput)")
            }
        }
    }
}
