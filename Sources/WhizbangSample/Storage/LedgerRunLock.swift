import Foundation
import Synchronization

/// The exclusive `flock` a `run` holds on its SQLite ledger for as long as it writes to it, so that a second `run` on
/// the same file, fresh or `--keep`, is refused instead of interleaving its commands with the first one's: the
/// second run's checks would then fail, and the record it saves would count only its own events.
///
/// `flock` locks are apart from the POSIX locks SQLite takes, but closing any descriptor of a file drops the POSIX
/// locks the process holds on it: ``release()`` only once every SQLite connection of this process to the file is
/// closed. The kernel releases the lock of a process that dies.
final class LedgerRunLock: Sendable {
    private let descriptor: Atomic<Int32>

    /// Locks the ledger at `path`, without waiting.
    ///
    /// - Parameter replacedLedger: whether this run has just replaced an old ledger at `path` with the new one it
    ///   locks now (a fresh run): a failure then is no refusal, since something was changed, and says so.
    /// - Throws: `SampleError` with exit status 2 when another process holds the lock (another `run` writes the
    ///   ledger), or the file cannot be opened; with exit status 1 and words that say what was changed, after
    ///   `replacedLedger`.
    init(path: String, replacedLedger: Bool = false) throws {
        func failure(_ text: String) -> SampleError {
            replacedLedger
                ? SampleError("\(text) (the old ledger had been replaced by a new, empty one)")
                : SampleError.refusal(text)
        }
        // The file was found to be a store; a symbolic link to one locks the store, which SQLite opens too.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw failure("cannot open the ledger \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            if code == EWOULDBLOCK {
                // The lock is the new file's, which the old one's lock did not cover: another run took the new
                // ledger between its renaming and this lock.
                guard !replacedLedger else {
                    throw SampleError(
                        "\(path) is being written by another run, which took it after this one had replaced the "
                            + "old ledger there with a new, empty one; this run added nothing to it: give --database "
                            + "a path that no other run uses")
                }
                throw SampleError.refusal(
                    "\(path) is being written by another run; one run at a time adds to a ledger, so this one changed "
                        + "nothing: wait for it to finish, or give --database another path")
            }
            throw failure("cannot lock the ledger \(path): \(String(cString: strerror(code)))")
        }
        self.descriptor = Atomic(descriptor)
    }

    /// Gives the lock up; later calls do nothing.
    func release() {
        let descriptor = self.descriptor.exchange(-1, ordering: .relaxed)
        if descriptor >= 0 { close(descriptor) }
    }

    deinit { release() }
}
