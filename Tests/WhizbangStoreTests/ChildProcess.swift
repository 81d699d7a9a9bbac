import Foundation
import ProcessTesting

#if canImport(Glibc)
import Glibc
#endif

/// The `WhizbangStoreCrashChild` executable as a child process of the tests.
extension ChildProcess {
    /// The child binary, built next to the test bundle.
    static var crashChildPath: String {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appendingPathComponent("WhizbangStoreCrashChild").path
    }

    /// Starts the crash child with `arguments`.
    static func crashChild(_ arguments: [String]) async throws -> ChildProcess {
        try await start(crashChildPath, arguments)
    }

    /// Reads the child's output until it has printed `count` lines or closed it; returns how many it printed.
    func readLines(_ count: Int) async -> Int {
        var seen = 0
        while seen < count, await nextOutputLine() != nil { seen += 1 }
        return seen
    }

    /// The child's output not read yet, up to its closing it.
    func readAllOutput() async -> String {
        await remainingOutputLines().joined(separator: "\n")
    }

    /// Its standard error, once it has closed it.
    func errorOutput() async -> String {
        await remainingErrorLines().joined(separator: "\n")
    }

    /// Kills the child with SIGKILL and waits for it to end.
    func kill() async {
        signal(SIGKILL)
        _ = try? await exitStatus()
    }
}
