import Foundation
import Synchronization

/// The first of SIGTERM, SIGINT, SIGHUP and SIGPIPE the process received, 0 while none; written by the signal
/// handler, which may do no more than store to a lock-free atomic.
private let receivedSignal = Atomic<Int32>(0)

/// Turns SIGTERM, SIGINT, SIGHUP (a closed terminal) and SIGPIPE (standard output a pipe whose reader has gone, as
/// in `inspect | head`) into a request to stop: the run admits no new command, lets the ones in flight finish and
/// become durable, closes the store and exits, so that nothing acknowledged is lost; a command that reads closes the
/// store (removing the files its read made beside an SQLite ledger) instead of ending at its next write. (Once a
/// PostgreSQL connection is made, SwiftNIO ignores SIGPIPE for the whole process: a write to a closed pipe then fails
/// instead, which the command reports at its end.)
///
/// The handlers are installed when the first `StopSignal` is made and record the signal at once, so none is lost
/// between that moment and the first look at ``received``. They are the process's: every `StopSignal` reports the
/// same signal.
final class StopSignal: Sendable {
    /// The process's one listener for the `run` command, made at its start: so a signal that arrives while the
    /// ledger is created or replaced waits for that to finish, and the run then stops before its first command.
    static let forRun = StopSignal()

    /// Installs the handlers (once per process); their default action (ending the process at once) is replaced. A
    /// signal the process was started ignoring (SIGHUP under `nohup`) stays ignored.
    init() {
        Self.installHandlers
    }

    private static let installHandlers: Void = {
        for number in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] {
            let previous = signal(number) { number in
                _ = receivedSignal.compareExchange(expected: 0, desired: number, ordering: .sequentiallyConsistent)
            }
            if unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { signal(number, SIG_IGN) }
        }
    }()

    /// The signal received, or `nil` while none has been.
    var received: Int32? {
        let number = receivedSignal.load(ordering: .sequentiallyConsistent)
        return number == 0 ? nil : number
    }

    /// The conventional exit status after stopping for the signal: 128 + its number.
    var exitStatus: Int32 { 128 + (received ?? 0) }

    /// The error with which a command that only reads stops for `signal` between reads (its store is closed on the
    /// way out): one line, and exit status 128 + the signal's number.
    static func stoppedReading(by signal: Int32) -> SampleError {
        guard signal != SIGPIPE else {
            return SampleError(
                "a pipe this command writes to was closed (SIGPIPE) before the end of the log; nothing was changed",
                exitStatus: 128 + signal)
        }
        return SampleError(
            "stopped by signal \(signal) before the end of the log; nothing was changed", exitStatus: 128 + signal)
    }
}
