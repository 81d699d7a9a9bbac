import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// What a child process printed, and how it ended, once it has exited.
public struct ProcessOutput: Sendable {
    /// The exit status, or the number of the signal that ended the process.
    public var status: Int32
    /// Standard output, decoded as UTF-8.
    public var standardOutput: String
    /// Standard error, decoded as UTF-8.
    public var standardError: String

    /// Runs `executable` with `arguments` to its exit, collecting both outputs whole; the environment is the test
    /// process's, changed by `environment` (a `nil` value removes a variable). See ``ChildProcess`` for why this does
    /// not use Foundation's `Process`.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String?] = [:]
    ) async throws -> ProcessOutput {
        let result = try await Subprocess.run(
            .path(FilePath(executable)), arguments: Arguments(arguments),
            environment: .inherit(changing: environment), input: .none,
            output: .sequence, error: .sequence
        ) { execution in
            async let output = bytes(of: execution.standardOutput)
            async let errors = bytes(of: execution.standardError)
            return try await (output, errors)
        }
        let (output, errors) = result.closureResult
        return ProcessOutput(
            status: result.terminationStatus.code, standardOutput: String(decoding: output, as: UTF8.self),
            standardError: String(decoding: errors, as: UTF8.self))
    }

    private static func bytes(of sequence: SubprocessOutputSequence) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await buffer in sequence {
            buffer.withUnsafeBytes { bytes.append(contentsOf: $0) }
        }
        return bytes
    }
}
