import Foundation
import ProcessTesting
import Testing

extension SampleProcessSuites {
    /// File names as the user gives them: `--database :memory:` names a file in the working directory, as it does for
    /// the sample's own checks (SQLite gives that one name an in-memory database of its own, which the store must not
    /// open instead), and a name's control characters reach the terminal as escapes.
    @Suite("WhizbangSample names files as given", .serialized)
    struct SampleFileNameTests {
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

        @Test("the lines that name a file written write its control characters as escapes")
        func fileNamesEscaped() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 100)
                // Before, these lines wrote the names as they are: an escape sequence in a name set the terminal's
                // title or colours, and a line feed started a line of its own.
                let titled = directory.appendingPathComponent("a\u{1B}]0;title\u{07}.jsonl").path
                let exported = try await SampleProcess.run(["export", "--database", ledger, "--output", titled])
                #expect(exported.status == 0, "\(exported.standardError)")
                #expect(exported.standardOutput.contains("a\\u{1B}]0;title\\u{07}.jsonl"), "\(exported.standardOutput)")
                let split = directory.appendingPathComponent("two\nlines.sqlite").path
                let imported = try await SampleProcess.run(["import", "--input", titled, "--database", split])
                #expect(imported.status == 0, "\(imported.standardError)")
                #expect(imported.standardOutput.contains("two\\u{0A}lines.sqlite"), "\(imported.standardOutput)")
                for output in [exported.standardOutput, imported.standardOutput] {
                    #expect(!output.dropLast().contains { $0 == "\u{1B}" || $0 == "\u{07}" || $0 == "\n" })
                }
            }
        }
    }
}
