import Foundation
import ProcessTesting
import Testing

extension SampleProcessSuites {
    /// A rollback journal beside a ledger is another database's (the ledger is always in WAL mode). Before, a fresh
    /// run rolled it back into the ledger, destroying it, and then said the ledger was as it was; the other commands
    /// said the database could not be written, which named the wrong cause.
    @Suite("WhizbangSample beside a stray rollback journal, run as a process", .serialized)
    struct SampleStrayJournalTests {
        enum Command: String, CaseIterable, CustomStringConvertible {
            case freshRun, keptRun, verify, inspect, export
            var description: String { rawValue }
        }

        @Test("every command refuses a ledger with a rollback journal beside it, names it, and changes nothing",
            arguments: Command.allCases)
        func refusesAStrayJournal(command: Command) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger)
                // Another database's hot journal, copied while its write transaction had spilled pages to its file.
                let other = directory.appendingPathComponent("other.sqlite").path
                let made = try await Python.run(
                    """
                    import sqlite3, shutil, sys, os
                    c = sqlite3.connect(sys.argv[1], isolation_level=None)
                    c.execute('CREATE TABLE mine (x)')
                    c.execute('BEGIN')
                    for i in range(300): c.execute('INSERT INTO mine VALUES (?)', ('y' * 3000,))
                    c.execute('COMMIT')
                    c.execute('BEGIN')
                    c.execute("UPDATE mine SET x = 'z'")
                    c.execute('PRAGMA cache_size = 1')
                    c.execute('DELETE FROM mine WHERE rowid % 2 = 0')
                    shutil.copy(sys.argv[1] + '-journal', sys.argv[2] + '-journal')
                    c.execute('ROLLBACK')
                    c.close()
                    os.remove(sys.argv[1])
                    """,
                    [other, ledger])
                try #require(made.status == 0, "\(made.standardError)")
                let before = try ImportFixture.snapshot(directory)
                let export = directory.appendingPathComponent("export.jsonl").path
                let arguments: [String] =
                    switch command {
                    case .freshRun: ["run", "--accounts", "10", "--commands", "10", "--quiet"]
                    case .keptRun: ["run", "--keep", "--accounts", "10", "--commands", "10", "--quiet"]
                    case .verify: ["verify"]
                    case .inspect: ["inspect"]
                    case .export: ["export", "--output", export]
                    }
                let output = try await SampleProcess.run(arguments + ["--database", ledger])
                #expect(output.status == 2, "\(output.standardOutput)\(output.standardError)")
                #expect(output.standardError.contains(ledger + "-journal"), "\(output.standardError)")
                #expect(output.standardError.contains("rollback journal"), "\(output.standardError)")
                #expect(!output.standardError.contains("readonly"), "\(output.standardError)")
                #expect(try ImportFixture.snapshot(directory) == before)
            }
        }

        /// SQLite opens a WAL and a shared-memory file only as regular files of its own, never through a link. Before,
        /// every command but a fresh run failed with SQLite's bare "unable to open database file (errno 40)", and a
        /// link at the shared-memory file's name left an empty WAL beside the ledger.
        @Test(
            "every command refuses a ledger whose WAL or shared-memory file is a symbolic link, and changes nothing",
            arguments: Command.allCases)
        func refusesALinkedCompanion(command: Command) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger)
                let elsewhere = directory.appendingPathComponent("elsewhere").path
                try Data("someone's file\n".utf8).write(to: URL(fileURLWithPath: elsewhere))
                let export = directory.appendingPathComponent("export.jsonl").path
                let arguments: [String] =
                    switch command {
                    case .freshRun: ["run", "--accounts", "10", "--commands", "10", "--quiet"]
                    case .keptRun: ["run", "--keep", "--accounts", "10", "--commands", "10", "--quiet"]
                    case .verify: ["verify"]
                    case .inspect: ["inspect"]
                    case .export: ["export", "--output", export]
                    }
                for companion in [ledger + "-wal", ledger + "-shm"] {
                    // A loop (SQLite's errno 40), a link to another file, and a link to nothing.
                    for target in [companion, elsewhere, directory.appendingPathComponent("missing").path] {
                        try FileManager.default.createSymbolicLink(atPath: companion, withDestinationPath: target)
                        let before = try Self.entries(directory)
                        let output = try await SampleProcess.run(arguments + ["--database", ledger])
                        let said = "\(companion) -> \(target): \(output.standardOutput)\(output.standardError)"
                        #expect(output.status == 2, "\(said)")
                        #expect(output.standardError.split(separator: "\n").count == 1, "\(said)")
                        #expect(output.standardError.contains(companion), "\(said)")
                        #expect(!output.standardError.contains("errno"), "\(said)")
                        // A fresh run's replacement names it as not a regular file, as it always did.
                        if command != .freshRun {
                            #expect(output.standardError.contains("is a symbolic link"), "\(said)")
                        }
                        #expect(try Self.entries(directory) == before, "\(said)")
                        try FileManager.default.removeItem(atPath: companion)
                    }
                }
            }
        }

        /// Every name in `directory` with what it is: a link's destination (never followed), a regular file's bytes.
        static func entries(_ directory: URL) throws -> [String: String] {
            var result: [String: String] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
                let path = directory.appendingPathComponent(name).path
                switch try FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType {
                case .typeSymbolicLink?:
                    result[name] = "link to " + (try FileManager.default.destinationOfSymbolicLink(atPath: path))
                case .typeRegular?:
                    result[name] = try Data(contentsOf: URL(fileURLWithPath: path)).base64EncodedString()
                default: result[name] = "other"
                }
            }
            return result
        }

        /// A reader of the output that goes away (`inspect | head`) ended the command with SIGPIPE at its next write,
        /// before it closed the store: the WAL and shared-memory files its read made stayed beside the ledger.
        @Test("inspect and export into a pipe closed early close the store, leaving nothing beside the ledger, and say only that")
        func aClosedPipeLeavesNothingBesideTheLedger() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                // One stream long enough that its events fill the pipe many times over.
                let made = try await SampleProcess.run([
                    "run", "--database", ledger, "--accounts", "1", "--commands", "20000", "--durability", "normal",
                    "--quiet",
                ])
                try #require(made.status == 0, "\(made.standardError)")
                let binary = try SampleProcess.executable.path
                // The sample's standard output is a pipe whose reader is gone before it starts: every write to it
                // raises SIGPIPE. (Python ignores SIGPIPE; its child gets the default action back.)
                let closedPipe = """
                    import os, subprocess, sys
                    reader, writer = os.pipe()
                    os.close(reader)
                    print(subprocess.run(sys.argv[1:], stdout=writer).returncode)
                    """
                // Stopped between reads (141), or, for inspect's summary, written at the end and found unwritten (1).
                for (arguments, expected) in [
                    (["inspect", "--stream", "account-0"], 141), (["inspect"], 1), (["export", "--output", "-"], 141),
                ] {
                    let output = try await SampleProcess.tool(
                        "python3", ["-c", closedPipe, binary] + arguments + ["--database", ledger])
                    let said = "\(arguments): \(output.standardOutput)\(output.standardError)"
                    let status = Int(output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
                    // Not killed by the signal (a negative status): it closed the store and exited.
                    #expect(status == expected, "\(said)")
                    // What reached the reader, if anything, is said as it is: not "- was not written".
                    if arguments[0] == "export" {
                        #expect(
                            output.standardError.contains(
                                "standard output may hold a part of the log, without the end line that import needs"),
                            "\(said)")
                    }
                    for companion in [ledger + "-wal", ledger + "-shm"] {
                        #expect(!FileManager.default.fileExists(atPath: companion), "\(said): \(companion) left")
                    }
                }
                // Read by a second name of the file, a stopped read says nothing of its names: it did not fail.
                let other = directory.appendingPathComponent("other.sqlite").path
                try #require(link(ledger, other) == 0)
                for arguments in [["inspect", "--stream", "account-0"], ["export", "--output", "-"]] {
                    let output = try await SampleProcess.tool(
                        "python3", ["-c", closedPipe, binary] + arguments + ["--database", other])
                    let said = "\(arguments): \(output.standardOutput)\(output.standardError)"
                    #expect(Int(output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)) == 141, "\(said)")
                    #expect(!output.standardError.contains("hard links"), "\(said)")
                }
            }
        }

        /// Before, a fresh run checkpointed another database's WAL into the ledger it was to replace, destroying it,
        /// and then said the ledger was as it was.
        @Test("a fresh run beside another database's WAL leaves the ledger as it was, and says only what is true")
        func freshRunBesideAForeignWAL() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger)
                let other = directory.appendingPathComponent("other.sqlite").path
                let made = try await Python.run(
                    """
                    import sqlite3, shutil, sys, os
                    c = sqlite3.connect(sys.argv[1])
                    c.execute('PRAGMA journal_mode = WAL')
                    c.execute('PRAGMA wal_autocheckpoint = 0')
                    c.execute('CREATE TABLE mine (x)')
                    for i in range(200): c.execute('INSERT INTO mine VALUES (?)', ('x' * 3000,))
                    c.commit()
                    shutil.copy(sys.argv[1] + '-wal', sys.argv[2] + '-wal')
                    os._exit(0)
                    """,
                    [other, ledger])
                try #require(made.status == 0, "\(made.standardError)")
                let file = try Data(contentsOf: URL(fileURLWithPath: ledger))
                let wal = try Data(contentsOf: URL(fileURLWithPath: ledger + "-wal"))
                let output = try await SampleProcess.run([
                    "run", "--accounts", "10", "--commands", "10", "--quiet", "--database", ledger,
                ])
                #expect(output.status != 0, "\(output.standardOutput)\(output.standardError)")
                #expect(output.standardError.contains(ledger + "-wal"), "\(output.standardError)")
                // Said because it is so (the bytes are checked below): nothing wrote either file.
                #expect(output.standardError.contains("the ledger at \(ledger) is as it was"), "\(output.standardError)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: ledger)) == file)
                #expect(try Data(contentsOf: URL(fileURLWithPath: ledger + "-wal")) == wal)
            }
        }
    }
}
