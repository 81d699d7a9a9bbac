import Dispatch
import Foundation
import Synchronization

/// Turns SIGTERM, SIGINT and SIGHUP (a closed terminal) into a request to stop: the run admits no new command, lets
/// the ones in flight finish and become durable, closes the store and exits, so that nothing acknowledged is lost.
///
/// `@unchecked Sendable`: `sources` is written only in `init` and only keeps the signal sources alive; the signal
/// received is an atomic.
final class StopSignal: @unchecked Sendable {
    /// The process's one listener for the `run` command, made at its start: so a signal that arrives while the
    /// ledger is created or replaced waits for that to finish, and the run then stops before its first command.
    static let forRun = StopSignal()

    private let signalNumber = Atomic<Int32>(0)
    private var sources: [any DispatchSourceSignal] = []

    /// Starts listening for SIGTERM, SIGINT and SIGHUP; their default action (ending the process at once) is turned
    /// off. A signal the process was started ignoring (SIGHUP under `nohup`) stays ignored.
    init() {
        for number in [SIGTERM, SIGINT, SIGHUP] {
            let previous = signal(number, SIG_IGN)
            if unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { continue }
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in
                _ = self?.signalNumber.compareExchange(expected: 0, desired: number, ordering: .sequentiallyConsistent)
            }
            source.resume()
            sources.append(source)
        }
    }

    /// The signal received, or `nil` while none has been.
    var received: Int32? {
        let number = signalNumber.load(ordering: .sequentiallyConsistent)
        return number == 0 ? nil : number
    }

    /// The conventional exit status after stopping for the signal: 128 + its number.
    var exitStatus: Int32 { 128 + (received ?? 0) }
}
