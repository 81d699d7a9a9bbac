import CWhizbangSQLite
import Synchronization

/// A reader connection's "stop the running read" flag, checked by the connection's progress handler every
/// ``checkInterval`` virtual machine instructions: a raised flag makes the running statement fail with
/// `SQLITE_INTERRUPT`.
///
/// Unlike `sqlite3_interrupt`, which SQLite forgets when no statement is running, the flag also stops a statement
/// that starts after the read was cancelled.
final class SQLiteReadCancellation: Sendable {
    /// How many virtual machine instructions run between two checks of the flag: 1,000.
    static let checkInterval: Int32 = 1_000

    private let isCancelled = Atomic(false)

    init() {}

    /// Installs the progress handler on `connection`, which must not outlive this object.
    func install(on connection: OpaquePointer?) {
        sqlite3_progress_handler(
            connection,
            Self.checkInterval,
            { context in
                guard let context else { return 0 }
                let flag = Unmanaged<SQLiteReadCancellation>.fromOpaque(context).takeUnretainedValue()
                return flag.isCancelled.load(ordering: .relaxed) ? 1 : 0
            },
            Unmanaged.passUnretained(self).toOpaque()
        )
    }

    /// Lowers the flag before a read starts.
    func reset() {
        isCancelled.store(false, ordering: .relaxed)
    }

    /// Raises the flag: the running statement stops at its next check.
    func cancel() {
        isCancelled.store(true, ordering: .relaxed)
    }
}
