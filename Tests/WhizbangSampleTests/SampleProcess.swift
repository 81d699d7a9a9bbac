import Foundation
import ProcessTesting
import Testing

/// Runs the built `WhizbangSample` executable, which sits in the build directory next to the test bundle.
struct SampleProcess {
    typealias Output = ProcessOutput

    /// The executable under test: `WHIZBANG_SAMPLE_EXECUTABLE` if set (to run these tests against another build),
    /// else the one built beside the tests.
    static var executable: URL {
        get throws {
            if let path = ProcessInfo.processInfo.environment["WHIZBANG_SAMPLE_EXECUTABLE"], !path.isEmpty {
                return URL(fileURLWithPath: path)
            }
            let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            var directory = testBinary.deletingLastPathComponent()
            // On Linux the test runner is `<build>/debug/<package>PackageTests.xctest`; elsewhere a bundle deeper down.
            for _ in 0..<4 {
                let candidate = directory.appendingPathComponent("WhizbangSample")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                directory.deleteLastPathComponent()
            }
            throw SampleTestError("WhizbangSample is not built next to \(testBinary.path); run `swift build` first")
        }
    }

    /// The repository's root, for scripts.
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// Makes a ledger at `path` with a short run of the sample (20 accounts, `normal` durability).
    static func makeLedger(_ path: String, commands: Int = 500) async throws {
        let run = try await run([
            "run", "--database", path, "--accounts", "20", "--commands", "\(commands)", "--durability", "normal",
            "--quiet",
        ])
        try #require(run.status == 0, "\(run.standardOutput)\(run.standardError)")
    }

    static func run(_ arguments: [String]) async throws -> Output {
        try await run(executable, arguments)
    }

    /// Runs the sample with `arguments` under a file-size limit of `blocks` blocks of 512 bytes, with SIGXFSZ ignored,
    /// so that a write past the limit fails with EFBIG instead of killing the process. Arguments must not hold a `'`.
    static func run(_ arguments: [String], fileSizeLimitBlocks blocks: Int) async throws -> Output {
        let command = ([try executable.path] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let script = "trap '' XFSZ; ulimit -f \(blocks); exec \(command)"
        return try await run(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
    }

    /// Runs `executable` to its exit, with the test process's environment, `environment` added and `removing` taken
    /// away.
    static func run(
        _ executable: URL, _ arguments: [String], environment: [String: String] = [:], removing: [String] = []
    ) async throws -> Output {
        var changes: [String: String?] = environment
        for name in removing { changes[name] = .some(nil) }
        return try await ProcessOutput.run(executable.path, arguments, environment: changes)
    }

    /// Runs a tool found on the `PATH` (such as `sqlite3` or `psql`).
    static func tool(_ name: String, _ arguments: [String]) async throws -> Output {
        try await run(URL(fileURLWithPath: "/usr/bin/env"), [name] + arguments)
    }

    /// Starts the sample in the background, for a test that reads its standard error line by line and signals it.
    static func child(_ arguments: [String]) async throws -> ChildProcess {
        try await ChildProcess.start(executable.path, arguments)
    }

    /// Expects two export files to be the same, byte for byte, and to hold more than 100 events: an import keeps
    /// every exported field, the recording times included.
    static func expectSameExports(_ first: String, _ second: String, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        let before = try Data(contentsOf: URL(fileURLWithPath: first))
        let after = try Data(contentsOf: URL(fileURLWithPath: second))
        #expect(before.split(separator: UInt8(ascii: "\n")).count > 100, sourceLocation: sourceLocation)
        guard before != after else { return }
        // Name the first line that differs.
        let left = String(decoding: before, as: UTF8.self).split(separator: "\n")
        let right = String(decoding: after, as: UTF8.self).split(separator: "\n")
        let index = zip(left, right).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(left.count, right.count)
        let first = index < left.count ? String(left[index]) : "<end>"
        let second = index < right.count ? String(right[index]) : "<end>"
        Issue.record(
            "the exports differ first at line \(index + 1) (\(left.count) and \(right.count) lines): \(first) / \(second)",
            sourceLocation: sourceLocation)
    }

    /// Runs `body` with a fresh temporary directory, removed afterwards.
    static func withTemporaryDirectory<Result>(_ body: (URL) async throws -> Result) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("whizbang-sample-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try await body(directory)
    }
}

extension ProcessOutput {
    /// The JSON object a `--json` run prints on its last line.
    var json: [String: Any] {
        get throws {
            let line = standardOutput.split(separator: "\n").last.map(String.init) ?? ""
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any])
        }
    }
}

extension ChildProcess {
    /// Reads standard error to its end, waits for the exit, and returns the status and the lines not read before.
    func finish() async throws -> (status: Int32, rest: [String]) {
        let rest = await remainingErrorLines()
        return (try await exitStatus(), rest)
    }
}

struct SampleTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
