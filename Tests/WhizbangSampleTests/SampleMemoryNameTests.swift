import Foundation
import ProcessTesting
import Testing

extension SampleProcessSuites {
    /// `--database :memory:` names a file in the working directory, as it does for the sample's own checks: SQLite
    /// gives that one name an in-memory database of its own, which the store must not open instead.
    @Suite("WhizbangSample reads a ledger named :memory: as a file", .serialized)
    struct SampleMemoryNameTests {
        @Test("a ledger named :memory: is made, read and imported as the file of that name")
        func memoryIsAFileName() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let binary = try SampleProcess.executable.path
                func sample(_ arguments: String) async throws -> ProcessOutput {
                    let script = "cd '\(directory.path)' && exec '\(binary)' \(arguments)"
                    return try await SampleProcess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
                }
                // Before, the run made the file, wrote its ledger into memory, and then said the file could not be
                // written and that nothing had changed; the file read as "another application's" database.
                let made = try await sample("run --database :memory: --accounts 10 --commands 100 --quiet")
                #expect(made.status == 0, "\(made.standardError)")
                let verified = try await sample("verify --database :memory:")
                #expect(verified.status == 0, "\(verified.standardOutput)\(verified.standardError)")
                let exported = try await sample("export --database :memory: --output log.jsonl")
                #expect(exported.status == 0, "\(exported.standardError)")
                try FileManager.default.removeItem(at: directory.appendingPathComponent(":memory:"))
                // Before, the import wrote into memory and said it had imported into the file.
                let imported = try await sample("import --input log.jsonl --database :memory:")
                #expect(imported.status == 0, "\(imported.standardError)")
                let again = try await sample("export --database ./:memory: --output again.jsonl")
                #expect(again.status == 0, "\(again.standardError)")
                try SampleProcess.expectSameExports(
                    directory.appendingPathComponent("log.jsonl").path,
                    directory.appendingPathComponent("again.jsonl").path)
            }
        }
    }
}
