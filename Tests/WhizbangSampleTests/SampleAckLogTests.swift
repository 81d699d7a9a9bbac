import Foundation
import ProcessTesting
import Testing

extension SampleProcessSuites {
    /// Which ack logs a run adds to, and what it says of the others.
    @Suite("WhizbangSample ack logs, run as a process", .serialized, .timeLimit(.minutes(5)))
    struct SampleAckLogTests {
        /// Runs a new ledger at `ledger` writing the ack log `ackLog`.
        private func makeLedger(_ ledger: String, ackLog: String) async throws {
            let made = try await SampleProcess.run(runArguments(ledger) + ["--ack-log", ackLog])
            try #require(made.status == 0, "\(made.standardOutput)\(made.standardError)")
        }

        private func runArguments(_ ledger: String) -> [String] {
            ["run", "--database", ledger, "--accounts", "20", "--commands", "100", "--durability", "normal", "--quiet"]
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
                let before = try ImportFixture.snapshot(directory)
                let refused = try await SampleProcess.run(runArguments(missing) + ["--keep", "--ack-log", acks])
                #expect(refused.status == 2, "status \(refused.status): \(refused.standardError)")
                #expect(refused.standardError.contains("\(missing) holds no ledger for --keep"), "\(refused.standardError)")
                #expect(!refused.standardError.contains("without --keep"), "\(refused.standardError)")
                #expect(refused.standardError.contains("give --database the ledger"), "\(refused.standardError)")
                #expect(try ImportFixture.snapshot(directory) == before)
            }
        }
    }
}
