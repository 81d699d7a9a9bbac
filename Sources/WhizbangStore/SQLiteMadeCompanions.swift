#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The WAL and shared-memory files that a read-only store's connections made beside a WAL-mode database that had
/// none, to remove once the store is closed.
///
/// SQLite removes the two files when the last connection to the database closes, but only a connection that may write
/// does: a read-only one leaves them, empty, and a later program that makes a new database at the same path after the
/// old one is deleted must refuse them, not knowing whose they are. They are removed only when nothing can be lost:
/// they are the files made at the open (same device and inode), the WAL holds nothing (no commit can be in it), and no
/// connection, in this process or another, has the database open, which SQLite's exclusive lock on the database tells
/// (``SQLiteEventStore/exclusiveHold(_:leavingWALOnClose:)``; every connection to a WAL-mode database holds a shared
/// lock on it while it is open). The files are unlinked while that lock is held, and while the database file is the
/// one that was opened, as SQLite's own last connection does, so no connection can start to use them meanwhile. In
/// any other case they are left as they are.
struct SQLiteMadeCompanions: Sendable {
    private let path: String
    private let database: Identity
    private let wal: Identity
    private let sharedMemory: Identity

    /// A regular file's device and inode, and its size.
    private struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64

        /// The regular file at `path` (links not followed), or `nil` when there is none.
        init?(_ path: String) {
            var status = stat()
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
            device = UInt64(truncatingIfNeeded: status.st_dev)
            inode = UInt64(truncatingIfNeeded: status.st_ino)
            size = Int64(status.st_size)
        }

        func isSameFile(as other: Identity) -> Bool {
            device == other.device && inode == other.inode
        }
    }

    /// The file `path` names once links are followed, as SQLite names the database whose WAL and shared-memory files
    /// it keeps beside it; `path` itself when it cannot be resolved (nothing there yet).
    static func resolved(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether nothing is at the names of the WAL and shared-memory files of the database at `path`: called before
    /// a store's connections open it.
    static func noneBeside(_ path: String) -> Bool {
        var status = stat()
        return lstat(path + "-wal", &status) != 0 && errno == ENOENT && lstat(path + "-shm", &status) != 0
            && errno == ENOENT
    }

    /// The WAL and shared-memory files beside the database at `path`, as the store's open made them (call it
    /// right after the open, and only when ``noneBeside(_:)`` was true before it); `nil` when it made none.
    init?(madeBeside path: String) {
        guard let database = Identity(path), let wal = Identity(path + "-wal"),
            let sharedMemory = Identity(path + "-shm")
        else { return nil }
        self.path = path
        self.database = database
        self.wal = wal
        self.sharedMemory = sharedMemory
    }

    /// Removes the two files if they are still the ones the open made, the WAL is empty, and no connection has the
    /// database open; leaves them otherwise. Call it once every connection of the store is closed.
    func removeIfUnused() {
        guard isUnusedAndEmpty() else { return }
        // Fails (busy) while any connection has the database open; an error (a file the process may not write, a
        // database deleted meanwhile) leaves the files too.
        // The hold's close must not checkpoint a WAL into the database (one that a writer killed since the look above
        // left commits in), nor remove a WAL by name: the files go here, or not at all. So it is set to leave the WAL
        // before it takes the lock, and a connection that cannot be set so takes none.
        guard let hold = try? SQLiteEventStore.exclusiveHold(path, leavingWALOnClose: true) else { return }
        defer { hold.close() }
        // Under the lock no connection can write the WAL: checked again, and only then removed. The lock is on the
        // file now at `path`: it must be the database that was opened, not one moved there since.
        guard Identity(path)?.isSameFile(as: database) == true, isUnusedAndEmpty() else { return }
        unlink(path + "-wal")
        unlink(path + "-shm")
    }

    /// Whether the files are the open's, and the WAL is empty.
    private func isUnusedAndEmpty() -> Bool {
        guard let walNow = Identity(path + "-wal"), let sharedMemoryNow = Identity(path + "-shm") else { return false }
        return walNow.isSameFile(as: wal) && walNow.size == 0 && sharedMemoryNow.isSameFile(as: sharedMemory)
    }
}
