#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A child process a test starts, reads line by line and signals, started through swift-subprocess.
///
/// Foundation's `Process.run()` is not used: on Linux it lists `/proc/self/fd` to find the descriptors to close,
/// and reads past the end of the directory buffer when that list is long (swift-corelibs-foundation PR #5472),
/// which crashed a whole test run with about 1,700 files open. swift-subprocess closes the descriptors with
/// `close_range` instead.
///
/// Both output streams are read from the start into unbounded line buffers, so a child never blocks on a full pipe
/// whatever the test reads. Read each stream from one task at a time.
public final class ChildProcess: Sendable {
    /// The child's process id, for ``signal(_:)`` and for tests that report it.
    public let processIdentifier: Int32
    private let outputLines: AsyncStream<String>
    private let errorLines: AsyncStream<String>
    private let exit: Task<Int32, any Error>

    private init(
        processIdentifier: Int32, outputLines: AsyncStream<String>, errorLines: AsyncStream<String>,
        exit: Task<Int32, any Error>
    ) {
        self.processIdentifier = processIdentifier
        self.outputLines = outputLines
        self.errorLines = errorLines
        self.exit = exit
    }

    /// Starts `executable` with `arguments` and the test process's environment, changed by `environment` (a `nil`
    /// value removes a variable); throws if it cannot be started.
    public static func start(
        _ executable: String, _ arguments: [String], environment: [String: String?] = [:]
    ) async throws -> ChildProcess {
        let (identifiers, identifierSink) = AsyncStream.makeStream(of: Int32.self)
        let (outputLines, outputSink) = AsyncStream.makeStream(of: String.self)
        let (errorLines, errorSink) = AsyncStream.makeStream(of: String.self)
        let exit = Task { () async throws -> Int32 in
            defer {
                identifierSink.finish()
                outputSink.finish()
                errorSink.finish()
            }
            let result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments),
                environment: .inherit(changing: environment), input: .none,
                output: .sequence, error: .sequence
            ) { execution in
                identifierSink.yield(execution.processIdentifier.value)
                identifierSink.finish()
                async let output: Void = forward(execution.standardOutput, to: outputSink)
                async let errors: Void = forward(execution.standardError, to: errorSink)
                _ = try await (output, errors)
            }
            return result.terminationStatus.code
        }
        var iterator = identifiers.makeAsyncIterator()
        guard let processIdentifier = await iterator.next() else {
            // Not started: the task's error says why.
            _ = try await exit.value
            throw ChildProcessError(description: "\(executable) did not start")
        }
        return ChildProcess(
            processIdentifier: processIdentifier, outputLines: outputLines, errorLines: errorLines, exit: exit)
    }

    /// The next line of standard output, without its line break; `nil` once the child has closed it.
    public func nextOutputLine() async -> String? {
        var iterator = outputLines.makeAsyncIterator()
        return await iterator.next()
    }

    /// The next line of standard error, without its line break; `nil` once the child has closed it.
    public func nextErrorLine() async -> String? {
        var iterator = errorLines.makeAsyncIterator()
        return await iterator.next()
    }

    /// The lines of standard output not read yet, up to the child's closing it.
    public func remainingOutputLines() async -> [String] {
        await outputLines.reduce(into: []) { $0.append($1) }
    }

    /// The lines of standard error not read yet, up to the child's closing it.
    public func remainingErrorLines() async -> [String] {
        await errorLines.reduce(into: []) { $0.append($1) }
    }

    /// Sends `signal` (such as `SIGKILL`) to the child.
    public func signal(_ signal: Int32) {
        _ = kill(processIdentifier, signal)
    }

    /// Waits for the child to end: its exit status, or the number of the signal that ended it (as Foundation's
    /// `Process.terminationStatus` gives it).
    @discardableResult
    public func exitStatus() async throws -> Int32 {
        try await exit.value
    }

    private static func forward(_ sequence: SubprocessOutputSequence, to sink: AsyncStream<String>.Continuation)
        async throws
    {
        for try await line in sequence.strings(bufferingPolicy: .unbounded) { sink.yield(line) }
        sink.finish()
    }
}

/// A child process that could not be started.
public struct ChildProcessError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
}
