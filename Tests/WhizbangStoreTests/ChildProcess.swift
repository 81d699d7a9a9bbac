import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The `WhizbangStoreCrashChild` executable, started with a pipe on its standard output; the blocking parts run on
/// threads of their own, never on the cooperative pool.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let errors = Pipe()

    /// The child binary, built next to the test bundle.
    static var executableURL: URL {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appendingPathComponent("WhizbangStoreCrashChild")
    }

    init(_ arguments: [String]) throws {
        process.executableURL = Self.executableURL
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    /// Reads the child's output until it has printed `count` newlines or closed it; returns how many it printed.
    func readNewlines(_ count: Int) async -> Int {
        let descriptor = output.fileHandleForReading.fileDescriptor
        return await onThread {
            var seen = 0
            var buffer = [UInt8](repeating: 0, count: 4096)
            while seen < count {
                let read = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, min(4096, count - seen)) }
                if read <= 0 { break }
                seen += buffer[0..<read].filter { $0 == UInt8(ascii: "\n") }.count
            }
            return seen
        }
    }

    /// Reads all the child's output until it closes it.
    func readAllOutput() async -> String {
        let handle = output.fileHandleForReading
        return await onThread { String(decoding: handle.readDataToEndOfFile(), as: UTF8.self) }
    }

    /// Its standard error, once it has exited.
    func errorOutput() async -> String {
        let handle = errors.fileHandleForReading
        return await onThread { String(decoding: handle.readDataToEndOfFile(), as: UTF8.self) }
    }

    /// Kills the child with SIGKILL and waits for it to end.
    func kill() async {
        Glibc.kill(process.processIdentifier, SIGKILL)
        await waitForExit()
    }

    /// Waits for the child to end and returns its exit status.
    @discardableResult
    func waitForExit() async -> Int32 {
        let process = self.process
        return await onThread {
            process.waitUntilExit()
            return process.terminationStatus
        }
    }
}

/// Runs blocking work on a thread of its own and returns its result.
func onThread<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
    await withUnsafeContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}
