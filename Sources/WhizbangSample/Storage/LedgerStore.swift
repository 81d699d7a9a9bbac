import Foundation
import Whizbang
import WhizbangStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
// In this module, Glibc's `struct stat` is owned by the clang module that first includes its header: Dispatch's.
#if canImport(CDispatch)
import CDispatch
#endif

/// Opens, creates and measures the SQLite files the sample works on, turning store errors into clear messages.
enum LedgerStore {
    /// Read models the stores opened by the current task keep (`run --read-model`); none by default.
    @TaskLocal static var readModels: [any ReadModelProjection] = []

    /// The store configuration the sample uses.
    static func configuration(durability: SQLiteEventStore.Configuration.Durability) -> SQLiteEventStore.Configuration {
        var configuration = SQLiteEventStore.Configuration()
        configuration.durability = durability
        configuration.readModels = readModels
        // Mapped pages of the file count as resident memory, so the file is read through the page caches alone.
        // Those caches are small: the default ledger run peaked at 106 MiB with a 32 MiB writer cache (8 MiB per
        // reader), 69 MiB with 8 MiB and 62 MiB with 4 MiB (the operating system's file cache holds the rest of the
        // database). With the WAL bound this costs about 5-10% of `full` commands/s in alternating runs, in system
        // time (BENCHMARKS.md).
        configuration.memoryMapBytes = 0
        configuration.pageCacheBytes = 4 << 20
        // The WAL stays under the store's default `maximumWALBytes` (64 MiB): checkpoints start at half of it.
        return configuration
    }

    /// Opens an existing Whizbang store, failing clearly when the path holds nothing or something else; a file of
    /// another kind is only ever opened read-only, and never changed.
    static func openExisting(
        path: String,
        durability: SQLiteEventStore.Configuration.Durability = .normal
    ) async throws -> SQLiteEventStore {
        let file = SQLiteEventStore.inspectFile(at: path)
        switch file.kind {
        case .absent:
            throw SampleError("no database at \(path)")
        case .store, .unmarkedStore:
            return try await open(path: path, durability: durability)
        default:
            throw notAStore(path, file)
        }
    }

    /// Opens an existing Whizbang store for reading only (SQLite's `mode=ro`): the file is never written, and may
    /// be one the process cannot write.
    static func openReadOnly(path: String) async throws -> SQLiteReadOnlyEventStore {
        let file = SQLiteEventStore.inspectFile(at: path)
        switch file.kind {
        case .absent:
            throw SampleError("no database at \(path)")
        case .store, .unmarkedStore:
            do {
                return try await SQLiteReadOnlyEventStore.open(
                    path: path, configuration: configuration(durability: .normal))
            } catch let error as EventStoreError {
                throw openingError(error, path: path)
            }
        default:
            throw notAStore(path, file)
        }
    }

    /// Opens the store at `path`, creating it, and locks it for this run (``LedgerRunLock``: release the lock only
    /// after closing the store); with `fresh`, a new ledger replaces one the sample created there.
    ///
    /// Anything else at `path` — a directory, another file, another application's database, a store the sample did
    /// not create, a read-only file — is refused before it is touched, and so is a ledger another run is writing.
    /// Without `fresh`, nothing is ever replaced: a store at `path` is opened, and where there was none, the new
    /// ledger is only ever given a free name.
    ///
    /// - Throws: ``LedgerAppeared`` without `fresh`, when `path` held no ledger and holds one made meanwhile by
    ///   another run, once this run's creation, which replaced nothing, was refused.
    static func create(
        path: String,
        fresh: Bool,
        durability: SQLiteEventStore.Configuration.Durability
    ) async throws -> (SQLiteEventStore, LedgerRunLock) {
        let file = SQLiteEventStore.inspectFile(at: path)
        if !fresh, file.kind == .store || file.kind == .unmarkedStore {
            try refuseToAdd(to: path, file)
            let lock = try LedgerRunLock(path: path)
            do {
                return (try await open(path: path, durability: durability), lock)
            } catch {
                lock.release()
                throw error
            }
        }
        let store: SQLiteEventStore
        do {
            store = try await createFresh(path: path, file: file, durability: durability)
        } catch let refusal as SampleError where !fresh && refusal.exitStatus == 2 {
            // The path held no ledger to keep (`createFresh` replaces none then); one there now was made meanwhile.
            let now = SQLiteEventStore.inspectFile(at: path).kind
            guard now == .store || now == .unmarkedStore else { throw refusal }
            throw LedgerAppeared(path: path, refusal: refusal)
        }
        do {
            // A ledger was replaced: whatever fails now, something was changed, and the lock's error says so.
            return (store, try LedgerRunLock(path: path, replacedLedger: file.kind == .store))
        } catch {
            store.close()
            throw error
        }
    }

    /// Refuses (exit status 2) to add to the ledger `file` at `path` before anything reads it, when its file has
    /// other names (hard links) anywhere: SQLite keeps a database's WAL beside the name it was opened by, so a run by
    /// one name would not see the commits that a run by another left in that name's WAL, which would later be copied
    /// over this run's. And when it may not be written: a read would first make a WAL and a shared-memory file beside
    /// it, which the owner's next run would meet as another user's. `run --keep` asks before its read-only check of
    /// the kept ledger, and ``create(path:fresh:durability:)`` again before it opens it.
    static func refuseToAdd(to path: String, _ file: SQLiteStoreFile) throws {
        // Only a store is added to; anything else (a directory, another file) gets its own refusal when it is opened.
        guard file.kind == .store || file.kind == .unmarkedStore else { return }
        var status = stat()
        // A restore killed between giving a ledger its name and removing its own leaves the ledger with two names,
        // the other one the store can prove its own and remove.
        if stat(path, &status) == 0, status.st_nlink > 1 { try removeLeftovers(for: path) }
        if stat(path, &status) == 0, status.st_nlink > 1 {
            throw SampleError.refusal(
                "\(path) has \(status.st_nlink) names (hard links); SQLite keeps the commits a run has not yet copied "
                    + "into the file in a WAL named after the name it opened, so a run by one name would not see those "
                    + "of a run by another, and their WAL would later be copied over this run's. run --keep adds only "
                    + "to a ledger of one name; nothing was changed: run on a copy (cp), or remove the other names")
        }
        guard file.isWritable else {
            throw SampleError.refusal(
                "\(path) cannot be written (the file or its directory is read-only, or made immutable); the ledger was "
                    + "not changed: make it writable, or give --database another path")
        }
    }

    /// What ``create(path:fresh:durability:)`` does for a path without a ledger to keep: creates one, in place of a
    /// ledger the sample created there.
    private static func createFresh(
        path: String,
        file: SQLiteStoreFile,
        durability: SQLiteEventStore.Configuration.Durability
    ) async throws -> SQLiteEventStore {
        let elsewhere = "give --database a path that does not exist"
        switch file.kind {
        case .absent:
            return try await createNew(path: path, durability: durability)
        case .store, .unmarkedStore:
            guard file.kind == .store else {
                throw SampleError.refusal(
                    "\(path) is a Whizbang store without the mark of one this sample created; run leaves it alone: "
                        + "\(elsewhere), or --keep to add to it")
            }
            guard PathKind(path) != .symbolicLink else {
                throw SampleError.refusal(
                    "\(path) is a symbolic link to a ledger; run replaces only a ledger itself, never a link: give "
                        + "--database the ledger's own path, or --keep to add to it")
            }
            guard file.isWritable else {
                throw SampleError.refusal(
                    "\(path) is a ledger that cannot be written (the file or its directory is read-only); run leaves "
                        + "it alone: \(elsewhere)")
            }
            // Read without opening the store: an open for writing would migrate an older store and checkpoint its WAL
            // into the file on closing, changing a store that may turn out not to be the sample's.
            let isLedger: Bool
            let isImported: Bool
            do {
                isLedger = try SQLiteEventStore.checkpoint(for: LedgerMark.consumer, inStoreAt: path) != nil
                isImported = try SQLiteEventStore.checkpoint(for: LedgerMark.importConsumer, inStoreAt: path) != nil
            } catch {
                throw openingError(error, path: path)
            }
            guard !isImported else {
                throw SampleError.refusal(
                    "\(path) holds a log imported from a file; run never starts imported events over: \(elsewhere), "
                        + "or --keep to add to it")
            }
            guard isLedger else {
                throw SampleError.refusal(
                    "\(path) is a Whizbang store that this sample did not create; run leaves it alone: \(elsewhere)")
            }
            // Another run holds its run lock a little longer than its connections (see `LedgerRunLock`): the lock,
            // not only SQLite's, says whether another run still writes this ledger.
            let lock = try LedgerRunLock(path: path)
            defer { lock.release() }
            // The new ledger is built whole and renamed over the old one, which is checked again under an exclusive
            // hold: the path holds the old ledger or the new one at every moment, and a failure leaves the old one.
            return try await createNew(path: path, durability: durability, replacing: true)
        default:
            throw SampleError.refusal(
                "\(path) is \(file.description), not a ledger this sample created; run leaves it alone: \(elsewhere)")
        }
    }

    /// Creates a store at `path`, where nothing exists (or, with `replacing`, in place of a ledger the sample created
    /// there), marked as the sample's ledger and given a new ``LedgerIdentity``, and opens it.
    ///
    /// The ledger is built whole under a temporary name and then put into place (the store's restore of an empty log
    /// with the mark's checkpoint), so however the process ends, `path` holds nothing, the old ledger or a marked new
    /// one: never an empty file or an unmarked store that later runs would have to refuse.
    static func createNew(
        path: String,
        durability: SQLiteEventStore.Configuration.Durability,
        replacing: Bool = false
    ) async throws -> SQLiteEventStore {
        try removeLeftovers(for: path)
        // The old ledger is said to be as it was only when its files are: a replacement that fails may have changed
        // them before it failed (a connection that rolled another program's journal or WAL into the file, say).
        let before = replacing ? LedgerFiles(path) : nil
        do {
            try await SQLiteEventStore.restore(
                [], checkpoints: [LedgerMark.consumer: 0, LedgerIdentity.consumer: LedgerIdentity.new()], to: path,
                configuration: configuration(durability: durability),
                replacingStoreMarkedBy: replacing ? LedgerMark.consumer : nil)
        } catch let error as EventStoreError {
            // `nil` when there was no ledger to replace.
            let kept = before.map { LedgerFiles(path) == $0 }
            let unchanged =
                switch kept {
                case nil: "nothing was created"
                case true?: "the ledger at \(path) is as it was"
                case false?: "the ledger at \(path) may have been changed"
                }
            switch error.code {
            case .invalidArgument where kept != false:
                // The sample's run starts over through the store's restore (of an empty log): said so, since the
                // store's reason speaks of "the restore".
                throw SampleError.refusal(
                    "cannot start a new ledger at \(path) (run puts it in place by a restore of an empty log): "
                        + "\(OneLine.text(error.message)); \(unchanged): give --database another path")
            default:
                throw SampleError("cannot create the ledger \(path) (\(unchanged)): \(OneLine.text(error.message))")
            }
        }
        let store: SQLiteEventStore
        do {
            store = try await open(path: path, durability: durability)
        } catch {
            guard replacing else { throw error }
            throw SampleError("\(error) (the old ledger had been replaced by a new, empty one)")
        }
        // Another run may have replaced the new ledger before it was opened (or the open made an empty store where it
        // had gone): only the ledger with the mark is run on.
        guard (try? await LedgerMark.isPresent(in: store)) == true else {
            store.close()
            throw SampleError(
                "\(path) changed while this run created it (another run on the same path?)"
                    + (replacing ? ", after the old ledger there had been replaced" : "")
                    + "; give --database a path that no other run uses",
                exitStatus: replacing ? 1 : 2)
        }
        return store
    }

    /// Removes what a killed run or import left beside `path` (see `SQLiteEventStore.removeAbandonedRestores`),
    /// saying so on standard error.
    ///
    /// A leftover the store refuses to remove — one whose file also holds a table, view, trigger, index or column
    /// someone added to it, or one another program has open — is left as it was, and the command stops there, before
    /// it writes anything at `path`: it is a refusal, with the store's reason.
    static func removeLeftovers(for path: String) throws {
        var refusals: [String] = []
        let removed = SQLiteEventStore.removeAbandonedRestores(for: path) { _, reason in
            refusals.append(OneLine.text(reason.message))
        }
        for leftover in removed {
            StandardError.write("removed \(leftover), left by a run or import that was killed\n")
        }
        guard refusals.isEmpty else {
            throw SampleError.refusal(
                "cannot remove what a run or import that was killed left beside \(path): "
                    + "\(refusals.joined(separator: "; ")); move it away, or remove it yourself, and try again")
        }
    }

    /// The bytes the database occupies: the file plus its WAL, if any.
    static func databaseBytes(path: String) -> Int {
        let sizes = SQLiteEventStore.fileSizes(at: path)
        return sizes.database + sizes.wal
    }

    /// The bytes of the WAL file alone; 0 when there is none.
    static func walBytes(path: String) -> Int {
        SQLiteEventStore.fileSizes(at: path).wal
    }

    private static func open(
        path: String,
        durability: SQLiteEventStore.Configuration.Durability
    ) async throws -> SQLiteEventStore {
        do {
            return try await SQLiteEventStore.open(path: path, configuration: configuration(durability: durability))
        } catch let error as EventStoreError {
            throw openingError(error, path: path)
        }
    }

    /// The refusal of `file`, found at `path`, which is not a store: said as a file this process may not read when
    /// it is one (SQLite's "unable to open database file" said nothing of whose file it is, and "not a Whizbang
    /// store" may be untrue).
    private static func notAStore(_ path: String, _ file: SQLiteStoreFile) -> SampleError {
        var status = stat()
        if file.kind == .otherFile, stat(path, &status) == 0, faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) != 0,
            errno == EACCES
        {
            return SampleError.refusal(
                "\(path) cannot be read by this process (user \(geteuid())): it belongs to user \(status.st_uid), "
                    + "mode \(String(status.st_mode & 0o7777, radix: 8)); nothing was changed")
        }
        return SampleError.logReadRefusal("\(path) is not a Whizbang store: it is \(file.description)")
    }

    /// The sample's line for a store that would not open.
    private static func openingError(_ error: EventStoreError, path: String) -> SampleError {
        switch error.code {
        // The store refused before it opened anything (a rollback journal beside the file, say): nothing was changed.
        case .invalidArgument:
            SampleError.refusal("cannot open \(path): \(OneLine.text(error.message))")
        case .corruptDatabase:
            SampleError.logRead("\(path) is corrupt: \(OneLine.text(error.message))")
        case .notADatabase, .incompatibleSchema:
            SampleError.logReadRefusal("\(path) is not a Whizbang store (\(OneLine.text(error.message)))")
        // A file, or a directory, that this process may not write: a ledger to read, not to add to. SQLite's own
        // words (after the store's generic prefix) are replaced by the sample's; the store's particular messages
        // (read-only storage beside a WAL file, say) are kept.
        case .readOnly
        where error.message.hasPrefix("the database cannot be written: ")
            || error.message.hasPrefix("the database or its directory cannot be written: "):
            SampleError.refusal(
                "\(path) cannot be written (the file or its directory is read-only, or made immutable); the ledger was "
                    + "not changed: make it writable, or give --database another path")
        case .readOnly:
            SampleError.refusal("cannot open \(path): \(OneLine.text(error.message))")
        default:
            SampleError("cannot open \(path): \(OneLine.text(error.message))")
        }
    }
}

/// What a ledger's files are on disk: the main file's and its WAL's device, inode, size and time of last
/// modification, and the main file's time of last change of any kind (`st_ctim`, which no program can set back),
/// compared before a replacement and after its failure to tell whether it may have changed them. (Not the WAL's:
/// SQLite, run as root, gives a WAL it opens its owner again, which changes that time and nothing in the file.)
struct LedgerFiles: Equatable {
    private var files: [[Int64]?]

    init(_ path: String) {
        let database = ResolvedPath.of(path)
        files = [database, database + "-wal"].map { file in
            var status = stat()
            guard lstat(file, &status) == 0 else { return nil }
            #if canImport(Darwin)
            let (modified, changed) = (status.st_mtimespec, status.st_ctimespec)
            #else
            let (modified, changed) = (status.st_mtim, status.st_ctim)
            #endif
            var identity = [
                Int64(truncatingIfNeeded: status.st_dev), Int64(truncatingIfNeeded: status.st_ino),
                Int64(status.st_size), Int64(modified.tv_sec), Int64(modified.tv_nsec),
            ]
            if file == database { identity += [Int64(changed.tv_sec), Int64(changed.tv_nsec)] }
            return identity
        }
    }
}
