import Foundation
public import Whizbang

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension SQLiteEventStore {
    /// Writes a whole log — recorded events with their own positions, stream versions and recording times — into a
    /// new store at `path`, all or nothing, even if the process is killed.
    ///
    /// Where an append gives each event the next position and the time of its commit, a restore keeps what it is
    /// given, so that a log exported from one store and restored into another reads back the same, field for field.
    /// The whole log is checked before anything is written, with
    /// `EventStoreValidation/validateRestore(_:maximumPayloadBytes:)`: each run of one stream's events by the rules
    /// of an append, positions 1, 2, 3… in the order given, each stream's versions 1, 2, 3…, and each event id once.
    ///
    /// The store is built under a temporary name in `path`'s directory (`.<name>.restoring-<8 hex digits>`, a long
    /// name cut short and followed by `~` and a hash of the whole name), in one
    /// transaction after the one that marks it as a store; its WAL is copied back, the file fsynced, and only then is it
    /// given the name `path` (with `link`, which never replaces a file; without hard links, with a rename that never
    /// does either, or not at all) and the directory fsynced. So `path` holds either nothing or the whole store. A
    /// failure or a stop removes the temporary files; a process killed on the way leaves a marked store under the
    /// temporary name, which ``removeAbandonedRestores(for:leftAlone:)`` removes later.
    ///
    /// With `marker`, `path` may also hold a store to replace: one this library created
    /// (``SQLiteStoreFile/Kind/store``, not a symbolic link to one) that carries a checkpoint for the consumer `marker`
    /// — a mark the caller wrote into a store it created, to know it again. The new store is built first; then, holding
    /// the old one exclusively, the restore checks the mark again, copies the old store's WAL into its file (a
    /// checkpoint; the old file's header is not changed), removes the old WAL and renames the new file over the old
    /// one. So `path` holds the old store or the whole new one at every moment, however the process ends. A store
    /// without the mark, a store whose file also holds tables, views, triggers, indexes or columns that the store did
    /// not create (checked before the work and again under the hold; the refusal names them), anything else at `path`,
    /// and a store that a connection has open (in this process or another) are refused, and nothing is changed. (A
    /// connection that has opened the file but not yet read from it holds no lock and is not seen; a caller that
    /// replaces stores keeps its own openers out, as the sample's run lock does.)
    ///
    /// The blocking work runs on a thread of its own. Snapshots are not part of a log and are not restored; a
    /// configuration with inline projections is refused, since their read models would not be built.
    ///
    /// - Parameters:
    ///   - events: The log, in position order.
    ///   - checkpoints: Checkpoints to write in the same transaction, by consumer name.
    ///   - path: Where the store goes; nothing may exist there, or, with `marker`, a store that carries that mark.
    ///   - configuration: The store settings used to write (page size, durability, payload limit).
    ///   - marker: The consumer name of the checkpoint that marks a store this restore may replace; `nil` (the
    ///     default) replaces nothing.
    ///   - progress: Called on the restoring thread with the number of events written so far, every 4,096 events and
    ///     once before the commit; return `false` to stop.
    /// - Returns: The number of events written.
    /// - Throws: `EventStoreError` — what `EventStoreValidation/validateRestore(_:maximumPayloadBytes:)` throws
    ///   for a log out of order or an invalid event; `invalidArgument` when something exists at `path` that the
    ///   restore may not replace (a store that holds what it did not create among them), or a store that a
    ///   connection has open (the message says what), for an invalid
    ///   consumer name (of a checkpoint or `marker`), a checkpoint above `EventStoreValidation/maximumPosition` or an
    ///   invalid configuration, a WAL or journal named after the missing database, a rollback journal beside the store
    ///   to replace (which is not the store's), a WAL beside it that does not read as the store checked, or a file
    ///   name of more than 251 bytes (SQLite names the WAL after it with 4 more);
    ///   `readOnly`, `storageFull` or `storageFailure` when the files cannot be written. `CancellationError` when the
    ///   calling task was cancelled or `progress` returned `false`. In every case `path` is left as it was.
    @discardableResult
    public static func restore(
        _ events: [RecordedEvent],
        checkpoints: [String: UInt64] = [:],
        to path: String,
        configuration: Configuration = Configuration(),
        replacingStoreMarkedBy marker: String? = nil,
        progress: @escaping @Sendable (_ eventsWritten: Int) -> Bool = { _ in true }
    ) async throws -> Int {
        try validate(configuration)
        guard configuration.inlineProjections.isEmpty else {
            throw EventStoreError(
                .invalidArgument, message: "a restore does not build inline projections; give a configuration without them")
        }
        let stop = SQLiteRestore.StopRequest()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Int, any Error>) in
                let restore = SQLiteRestore(
                    events: events, checkpoints: checkpoints, path: path, marker: marker,
                    configuration: configuration, progress: progress, stop: stop)
                let thread = Thread {
                    continuation.resume(with: Result { try restore.run() })
                }
                thread.name = "whizbang.sqlite.restore"
                thread.start()
            }
        } onCancel: {
            stop.request()
        }
    }

    /// Removes what restores to `path` left behind when their process was killed: files in `path`'s directory named
    /// `.<name>.restoring-<8 hex digits>` that a restore created under that very name (the store's mark says so), that
    /// no restore is still working on and no connection has open, with their WAL and shared-memory files. Anything
    /// else is left alone: a symbolic link, a copy of a store under such a name, a leftover of an older version.
    ///
    /// A file with more than one name is never opened under such a name: it may be a store that this process has
    /// open, and closing a descriptor of a file drops every POSIX lock the process holds on it, its connections' too.
    /// A restore killed between giving the store its name and removing the temporary one leaves the store under
    /// both; the temporary name alone is removed then (by name, which changes neither the file nor its locks) when
    /// it is a name of the store at `path` and that store's mark names it. Any other such file is left alone.
    ///
    /// A leftover of a killed restore that ``destroyStore(at:)`` refuses to remove — one that a connection has open,
    /// or whose file also holds tables, views, triggers, indexes or columns that the store did not create (a user's
    /// own table, say) — stays as it was, and is passed to `leftAlone` with the refusal, whose message says why.
    ///
    /// - Parameters:
    ///   - path: The store's path; what a killed restore left beside it is looked for in its directory.
    ///   - leftAlone: Called with each leftover of a killed restore that was not removed, and the reason.
    /// - Returns: The paths removed.
    @discardableResult
    public static func removeAbandonedRestores(
        for path: String, leftAlone: (_ leftover: String, _ reason: EventStoreError) -> Void = { _, _ in }
    ) -> [String] {
        let parts = PathParts(path)
        let target = parts.name
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parts.directory) else { return [] }
        var removed: [String] = []
        for name in names.sorted() where SQLiteRestore.isTemporaryName(name, for: target) {
            let candidate = parts.sibling(name)
            // A restore of this process: opening and closing a descriptor of its file here would drop the POSIX locks
            // its connection holds on it.
            guard !SQLiteRestore.isInProgress(candidate) else { continue }
            var status = stat()
            guard lstat(candidate, &status) == 0 else { continue }
            guard status.st_nlink == 1 else {
                if removeSecondName(candidate, named: name, of: path, status) { removed.append(candidate) }
                continue
            }
            // The restore that made the file holds this lock until the file has its final name.
            guard let lock = FileLock(path: candidate) else { continue }
            defer { lock.release() }
            guard inspectFile(at: candidate).isWhizbangStore,
                SQLiteRestore.wasRestored(candidate, as: name)
            else { continue }
            do throws(EventStoreError) {
                try destroyStore(at: candidate)
                removed.append(candidate)
            } catch {
                leftAlone(candidate, error)
            }
        }
        return removed
    }

    /// Removes the name `candidate` (`name` in the directory) of the file `status` describes, without opening it, when
    /// it is also the store at `path` and that store's mark says a restore created it under `name`; whether it did.
    ///
    /// The mark is read through SQLite, which, while a connection of this process holds a lock on the file, keeps
    /// every descriptor it opens on it open until that lock is released, so that no lock is dropped.
    private static func removeSecondName(_ candidate: String, named name: String, of path: String, _ status: stat)
        -> Bool
    {
        var store = stat()
        guard status.st_mode & S_IFMT == S_IFREG, lstat(path, &store) == 0, store.st_dev == status.st_dev,
            store.st_ino == status.st_ino, SQLiteRestore.wasRestored(path, as: name)
        else { return false }
        return unlink(candidate) == 0
    }
}
