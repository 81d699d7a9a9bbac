import Foundation
import ProcessTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension SampleProcessSuites {
    /// An ack log belongs to one ledger: its first line names the ledger, `run --keep` adds only that ledger's
    /// acknowledgements to it, and `verify` compares it only with that ledger. Before, `run --keep --ack-log A.ack
    /// --database B` appended B's acknowledgements to A's log, and `verify` of A with it then reported B's commands
    /// as acknowledged commands with no stored events: losses that never happened.
    @Suite("WhizbangSample ack logs, run as a process", .serialized, .timeLimit(.minutes(5)))
    struct SampleAckLogTests {
        /// Runs a new ledger at `ledger` writing the ack log `ackLog`.
        private func makeLedger(_ ledger: String, ackLog: String) async throws {
            try await expectSuccess(runArguments(ledger) + ["--ack-log", ackLog])
        }

        /// Runs `body` in a new directory with two ledgers, `first` with its ack log `acks` and `second` without one.
        private func withTwoLedgers(
            _ body: (_ directory: URL, _ first: String, _ second: String, _ acks: String) async throws -> Void
        ) async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let first = directory.appendingPathComponent("a.sqlite").path
                let second = directory.appendingPathComponent("b.sqlite").path
                let acks = directory.appendingPathComponent("a.acks").path
                try await makeLedger(first, ackLog: acks)
                try await SampleProcess.makeLedger(second, commands: 100)
                try await body(directory, first, second, acks)
            }
        }

        private func runArguments(_ ledger: String) -> [String] {
            ["run", "--database", ledger, "--accounts", "20", "--commands", "100", "--durability", "normal", "--quiet"]
        }

        private func verifyArguments(_ ledger: String, _ ackLog: String) -> [String] {
            ["verify", "--database", ledger, "--ack-log", ackLog]
        }

        /// Runs the sample with `arguments` and expects exit status 0.
        private func expectSuccess(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation)
            async throws
        {
            let output = try await SampleProcess.run(arguments)
            let said = "\(output.standardOutput)\(output.standardError)"
            #expect(output.status == 0, "\(said)", sourceLocation: sourceLocation)
        }

        /// Runs the sample with `arguments` and expects a refusal: exit status 2, `words` in what it says, and every
        /// file in `directory` byte for byte as it was.
        @discardableResult
        private func expectRefusal(
            _ arguments: [String], saying words: String, leaving directory: URL,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> SampleProcess.Output {
            let before = try ImportFixture.snapshot(directory)
            let output = try await SampleProcess.run(arguments)
            let said = "status \(output.status): \(output.standardOutput)\(output.standardError)"
            #expect(output.status == 2, "\(said)", sourceLocation: sourceLocation)
            #expect(output.standardError.contains(words), "\(said)", sourceLocation: sourceLocation)
            #expect(
                try ImportFixture.snapshot(directory) == before, "the refused command changed a file",
                sourceLocation: sourceLocation)
            return output
        }

        @Test("run --keep refuses the ack log of another ledger, and leaves both ledgers and the log as they were")
        func runKeepRefusesAnotherLedgersAckLog() async throws {
            try await withTwoLedgers { directory, first, second, acks in
                let refused = try await expectRefusal(
                    runArguments(second) + ["--keep", "--ack-log", acks], saying: "is the ack log of another ledger",
                    leaving: directory)
                #expect(refused.standardError.contains(second), "\(refused.standardError)")
                try await expectSuccess(verifyArguments(first, acks))
                // Its own ledger's run adds to it, and verify still passes.
                try await expectSuccess(runArguments(first) + ["--keep", "--ack-log", acks])
                try await expectSuccess(verifyArguments(first, acks))
            }
        }

        @Test("verify refuses the ack log of another ledger, or of the ledger a fresh run replaced, reporting no loss")
        func verifyRefusesAnotherLedgersAckLog() async throws {
            try await withTwoLedgers { directory, first, second, acks in
                let refused = try await expectRefusal(
                    verifyArguments(second, acks), saying: "is the ack log of another ledger", leaving: directory)
                #expect(!refused.standardOutput.contains("no stored events"), "\(refused.standardOutput)")
                // A run without --keep starts a new ledger at the same path: the old acknowledgements are not its.
                try await expectSuccess(runArguments(first))
                let replaced = try await expectRefusal(
                    verifyArguments(first, acks), saying: "is the ack log of another ledger", leaving: directory)
                #expect(!replaced.standardOutput.contains("no stored events"), "\(replaced.standardOutput)")
            }
        }

        /// Two runs on two ledgers given the same new ack log both passed its check (the second found it empty, just
        /// made by the first) and both wrote to it: two headers, interleaved acknowledgements, and a log that `verify`
        /// refused for either ledger. Here the test holds the lock a run holds on its log.
        @Test("run refuses an ack log that another run is writing, and changes nothing")
        func runRefusesAnAckLogAnotherRunWrites() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let acks = directory.appendingPathComponent("shared.acks").path
                let holder = open(acks, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                try #require(holder >= 0)
                defer { close(holder) }
                try #require(flock(holder, LOCK_EX | LOCK_NB) == 0)
                let ledger = directory.appendingPathComponent("b.sqlite").path
                _ = try await expectRefusal(
                    runArguments(ledger) + ["--ack-log", acks], saying: "is being written by another run",
                    leaving: directory)
            }
        }

        /// `run --keep` naming a database that holds no ledger was refused with "without --keep this run starts a new
        /// ledger ... or --keep to add to the ledger", though --keep was given.
        @Test("run --keep with an ack log, for a ledger that does not exist, says that the ledger is missing")
        func runKeepOnAMissingLedgerSaysSo() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("a.sqlite").path
                let acks = directory.appendingPathComponent("a.acks").path
                try await makeLedger(ledger, ackLog: acks)
                let missing = directory.appendingPathComponent("typo.sqlite").path
                let refused = try await expectRefusal(
                    runArguments(missing) + ["--keep", "--ack-log", acks],
                    saying: "\(missing) holds no ledger for --keep", leaving: directory)
                #expect(!refused.standardError.contains("without --keep"), "\(refused.standardError)")
                #expect(refused.standardError.contains("give --database the ledger"), "\(refused.standardError)")
            }
        }

        /// An ack log written before logs named their ledger: `verify` still checks it, and says that it cannot tell
        /// whose it is when commands are missing; `run --keep` no longer adds to it, since nothing says it is the
        /// ledger's.
        @Test("an ack log without the line naming its ledger is still verified, and run --keep refuses to add to it")
        func anAckLogOfAnOlderVersion() async throws {
            try await withTwoLedgers { directory, first, second, acks in
                let lines = try String(contentsOfFile: acks, encoding: .utf8).split(separator: "\n")
                #expect(lines.first?.hasPrefix("# whizbang-sample ack log of ledger ") == true, "\(lines.first ?? "")")
                // The same acknowledgements without the line that names the ledger, as an older version wrote them.
                let acknowledgements = lines.filter { !$0.hasPrefix("#") }
                let older = directory.appendingPathComponent("older.acks").path
                try Data(acknowledgements.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: older))
                try await expectSuccess(verifyArguments(first, older))
                let other = try await SampleProcess.run(verifyArguments(second, older))
                #expect(other.status == 1, "status \(other.status): \(other.standardOutput)\(other.standardError)")
                #expect(other.standardOutput.contains("does not name its ledger"), "\(other.standardOutput)")
                try await expectRefusal(
                    runArguments(first) + ["--keep", "--ack-log", older], saying: "older version", leaving: directory)
            }
        }

        /// A ledger an older version made carries no identity: the first run that writes an ack log for it gives it
        /// one, and the log then belongs to it as to a new ledger.
        @Test("a ledger without an identity gets one from run --keep --ack-log, and its log is then its own")
        func aLedgerOfAnOlderVersionGetsAnIdentity() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let first = directory.appendingPathComponent("a.sqlite").path
                let second = directory.appendingPathComponent("b.sqlite").path
                try await SampleProcess.makeLedger(first, commands: 100)
                try await SampleProcess.makeLedger(second, commands: 100)
                let withoutIdentity = "DELETE FROM checkpoints WHERE consumer = 'whizbang-sample.ledger-identity'"
                for ledger in [first, second] {
                    let older = try await SampleProcess.tool("sqlite3", [ledger, withoutIdentity])
                    try #require(older.status == 0, "\(older.standardError)")
                }
                let acks = directory.appendingPathComponent("a.acks").path
                try await expectSuccess(runArguments(first) + ["--keep", "--ack-log", acks])
                try await expectSuccess(verifyArguments(first, acks))
                try await expectRefusal(
                    verifyArguments(second, acks), saying: "without an identity", leaving: directory)
                try await expectRefusal(
                    runArguments(second) + ["--keep", "--ack-log", acks], saying: "is the ack log of another ledger",
                    leaving: directory)
            }
        }
    }
}
