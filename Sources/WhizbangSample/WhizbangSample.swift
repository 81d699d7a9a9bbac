import ArgumentParser
import Foundation
import WhizbangStore

/// The Whizbang sample: a bank ledger under load on a durable SQLite log, and the tools to replay, verify, inspect,
/// export and import that log. With no arguments it runs the default workload.
@main
struct WhizbangSample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "WhizbangSample",
        abstract: "A bank ledger on Whizbang: run the workload, then replay and verify its event log.",
        subcommands: [
            RunCommand.self, ReplayCommand.self, VerifyCommand.self, InspectCommand.self, ExportCommand.self,
            ImportCommand.self, SelfTestCommand.self, NodeCommand.self, ClusterStatusCommand.self, ServeCommand.self,
        ],
        defaultSubcommand: RunCommand.self
    )

    /// Parses the arguments and runs the command; any error is one line on standard error and exit status 1 (2 for a
    /// refusal that changed nothing, 64 for arguments that do not parse or validate, as ArgumentParser exits), so
    /// that scripts can rely on it. So is a result that could not be written to standard output.
    static func main() async {
        MallocArenas.limit()
        do {
            try refuseArgumentsNotInUTF8()
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            StandardOutput.exitIfUnwritten()
        } catch let error as SampleError {
            // A path may hold a line break; shown escaped, the message stays one line.
            let line = error.description.replacingOccurrences(of: "\r", with: "\\r")
                .replacingOccurrences(of: "\n", with: "\\n")
            StandardError.write("error: \(line)\n")
            if let note = error.note { StandardError.write("note: \(note)\n") }
            Foundation.exit(error.exitStatus)
        } catch let error as EventStoreError {
            // A store's message may quote a multi-line statement: all of it goes on the one line.
            StandardError.write("error: \(OneLine.text(error.message))\n")
            // A schema or file that holds no store of this version (another program's, a newer one's, none where
            // none is made) is a refusal that changed nothing, as the sample's own refusals are.
            Foundation.exit(error.code == .incompatibleSchema ? 2 : 1)
        } catch let exitCode as ExitCode {
            Foundation.exit(exitCode.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                StandardOutput.exitIfUnwritten()
                Foundation.exit(0)
            }
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            StandardError.write("error: \(message)\n")
            Foundation.exit(code.rawValue)
        }
    }

    /// Refuses (exit 2) an argument whose bytes are not UTF-8. `CommandLine.arguments` replaces such bytes with
    /// U+FFFD, so a path given with them would name another file: one the user never named, that a command could
    /// read, or replace.
    static func refuseArgumentsNotInUTF8() throws {
        for index in 1..<Int(CommandLine.argc) {
            guard let argument = CommandLine.unsafeArgv[index] else { continue }
            let bytes = UnsafeBufferPointer(start: argument, count: strlen(argument)).lazy.map { UInt8(bitPattern: $0) }
            guard String(validating: bytes, as: UTF8.self) == nil else { continue }
            throw SampleError.refusal(
                "argument \(index) (\(String(decoding: bytes, as: UTF8.self))) is not valid UTF-8; the sample takes "
                    + "paths and other arguments in UTF-8 only, and left everything alone")
        }
    }
}
