import Foundation
import Testing

/// Runs the built `WhizbangSample` executable, which sits in the build directory next to the test bundle.
struct SampleProcess {
    struct Output {
        var status: Int32
        var standardOutput: String
        var standardError: String

        /// The JSON object a `--json` run prints on its last line.
        var json: [String: Any] {
            get throws {
                let line = standardOutput.split(separator: "\n").last.map(String.init) ?? ""
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
                return try #require(object as? [String: Any])
            }
        }
    }

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

    static func run(_ arguments: [String]) async throws -> Output {
        try await run(executable, arguments)
    }

    /// Runs `executable` to its exit, waiting on a thread of its own: a wait on a thread of Swift's cooperative pool
    /// would hold that thread for the child's whole run and starve the other tests of the run.
    static func run(
        _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, removing: [String] = []
    ) async throws -> Output {
        try await offThePool { try runBlocking(executable, arguments, environment: environment, removing: removing) }
    }

    private static func runBlocking(
        _ executable: URL, _ arguments: [String], environment: [String: String]?, removing: [String]
    ) throws -> Output {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if environment != nil || !removing.isEmpty {
            var merged = ProcessInfo.processInfo.environment.merging(environment ?? [:]) { _, new in new }
            for name in removing { merged[name] = nil }
            process.environment = merged
        }
        let directory = FileManager.default.temporaryDirectory
        let outURL = directory.appendingPathComponent("sample-out-\(UUID().uuidString)")
        let errURL = directory.appendingPathComponent("sample-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            standardOutput: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
    }

    /// Runs a tool found on the `PATH` (such as `sqlite3` or `psql`).
    /// Runs a short tool to its exit on the calling thread, for cleanup in a `defer`, which cannot await.
    static func toolBlocking(_ name: String, _ arguments: [String]) throws -> Output {
        try runBlocking(URL(fileURLWithPath: "/usr/bin/env"), [name] + arguments, environment: nil, removing: [])
    }

    static func tool(_ name: String, _ arguments: [String]) async throws -> Output {
        try await run(URL(fileURLWithPath: "/usr/bin/env"), [name] + arguments)
    }

    /// A sample started in the background, whose standard error is read line by line.
    /// Read by one test at a time; its blocking reads run on a thread of their own, one after another.
    final class Child: @unchecked Sendable {
        let process = Process()
        private let errors = Pipe()
        private var buffer = Data()

        init(_ arguments: [String]) throws {
            process.executableURL = try SampleProcess.executable
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
        }

        /// The next line of standard error, or `nil` once the sample has closed it (it has exited).
        func nextErrorLine() async -> String? {
            await offThePool { self.nextErrorLineBlocking() }
        }

        private func nextErrorLineBlocking() -> String? {
            while true {
                if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer = Data(buffer[buffer.index(after: newline)...])
                    return line
                }
                let more = errors.fileHandleForReading.availableData
                if more.isEmpty {
                    guard !buffer.isEmpty else { return nil }
                    defer { buffer = Data() }
                    return String(decoding: buffer, as: UTF8.self)
                }
                buffer.append(more)
            }
        }

        /// Reads standard error to its end, waits for the exit, and returns the status and the remaining lines.
        func finish() async -> (status: Int32, rest: [String]) {
            await offThePool { self.finishBlocking() }
        }

        private func finishBlocking() -> (status: Int32, rest: [String]) {
            var rest: [String] = []
            while let line = nextErrorLineBlocking() { rest.append(line) }
            process.waitUntilExit()
            return (process.terminationStatus, rest)
        }
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

/// Runs blocking work (waiting for a child process, reading its pipe) on a new thread, and resumes the caller with its
/// outcome.
func offThePool<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Swift.Result { try body() }) }.start()
    }
}

/// Runs blocking work that cannot fail on a new thread.
func offThePool<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

struct SampleTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
