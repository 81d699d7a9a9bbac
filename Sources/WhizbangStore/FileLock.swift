#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on a regular file, taken without waiting, held until ``release()``.
///
/// A restore holds one on its temporary file from the moment it creates it until the file has its final name, so
/// that ``SQLiteEventStore/removeAbandonedRestores(for:leftAlone:)`` in another process never takes a restore at work
/// for one that was killed. `flock` locks are separate from the POSIX locks SQLite takes, but closing any descriptor of a
/// file drops the POSIX locks the process holds on it: release the lock only once every SQLite connection of this
/// process to the file is closed.
final class FileLock {
    private var descriptor: Int32

    /// Opens `path` (not following a symbolic link) and locks it; `nil` when it is not a regular file, cannot be
    /// opened, or another descriptor holds the lock.
    init?(path: String) {
        // Without O_NONBLOCK, opening a FIFO would wait for a writer.
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG,
            flock(descriptor, LOCK_EX | LOCK_NB) == 0
        else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
    }

    /// Locks the file open at `descriptor`, which the lock then owns; `nil` (and the descriptor closed) when another
    /// descriptor holds the lock.
    init?(descriptor: Int32) {
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
    }

    /// Gives the lock up and closes the descriptor; later calls do nothing.
    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
