import Foundation
import Logging
import WhizbangPostgres
import WhizbangStore

// In this module, Glibc's `struct stat` is owned by the clang module that first includes its header: Dispatch's.
#if canImport(CDispatch)
import CDispatch
#endif

/// The `--database` argument: an SQLite file, or a PostgreSQL database given as a `postgres://` URL (its `schema`
/// parameter picks the schema, default `whizbang`; a password may also come from `PGPASSWORD`).
enum SampleDatabase {
    case sqlite(path: String)
    case postgres(PostgresEventStore.Configuration)

    /// How a command needs the store.
    enum Access {
        /// A store that exists already, for reading only.
        case existing
        /// A store created if missing; with `fresh`, emptied first.
        case create(fresh: Bool, durability: SQLiteEventStore.Configuration.Durability)
    }

    /// Parses `--database`; unless `verbose`, the PostgreSQL client logs only warnings and errors.
    init(_ argument: String, verbose: Bool = false) throws {
        guard argument.hasPrefix("postgres://") || argument.hasPrefix("postgresql://") else {
            self = .sqlite(path: argument)
            return
        }
        do {
            var configuration = try PostgresEventStore.Configuration(url: argument)
            configuration.logger.logLevel = verbose ? .debug : .warning
            self = .postgres(configuration)
        } catch let error as EventStoreError {
            throw SampleError(error.message, exitStatus: 2)
        }
    }

    /// The file path, or the URL with the password masked.
    var name: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let configuration): configuration.description
        }
    }

    /// Opens the store as `access` asks, runs `command` on it, and closes it.
    ///
    /// Nothing that the sample did not create is ever removed: a fresh start removes only a ledger the sample
    /// created, and refuses (exit status 2, nothing touched) anything else. An existing store is opened read-only:
    /// SQLite's `mode=ro`, or on PostgreSQL a store that migrates nothing and runs read-only transactions.
    func with<Command: StoreCommand>(_ access: Access, _ command: Command) async throws -> Command.Output {
        switch self {
        case .sqlite(let path):
            try Self.refuseOtherNameWithWAL(path)
            if case .existing = access {
                do {
                    let store = try await LedgerStore.openReadOnly(path: path)
                    defer { store.close() }
                    let opened = OpenedDatabase(name: path, close: { store.close() }) {
                        store.close()
                        return LedgerStore.databaseBytes(path: path)
                    }
                    return try await command.run(on: store, database: opened)
                } catch {
                    throw Self.notingOtherNames(error, path: path)
                }
            }
            let store: SQLiteEventStore
            var lock: LedgerRunLock? = nil
            // What the ledger holds when the command fails as it writes: said after the store's reason.
            var holds = "\(path) holds the commands this run completed before the failure"
            switch access {
            case .existing:
                store = try await LedgerStore.openExisting(path: path)
            case .create(let fresh, let durability):
                if fresh, SQLiteEventStore.inspectFile(at: path).kind == .store {
                    holds = "the earlier ledger at \(path) was replaced when this run began, and it holds the commands "
                        + "this run completed before the failure"
                }
                (store, lock) = try await LedgerStore.create(path: path, fresh: fresh, durability: durability)
            }
            // The lock goes once the store is closed (see `LedgerRunLock`).
            defer {
                store.close()
                lock?.release()
            }
            var opened = OpenedDatabase(name: path, close: { store.close() }) {
                store.close()
                return LedgerStore.databaseBytes(path: path)
            }
            opened.openForReading = { try await LedgerStore.openReadOnly(path: path) }
            do {
                return try await command.run(on: store, database: opened)
            } catch let error as EventStoreError where error.code == .storageFull || error.code == .storageFailure {
                throw SampleError("\(OneLine.text(error.message)); \(holds)")
            }
        case .postgres(let configuration):
            return try await withPostgres(configuration, access, command)
        }
    }

    /// `error`, with ``otherNamesNote(_:)`` when it is what a read of the SQLite ledger at `path` met in the file
    /// (an error of the store's reads, or ``SampleError/isLogRead``) and the file has other names. Other refusals,
    /// stop signals and failures of anything else (an ack log, an output file, a port) are left as they are.
    static func notingOtherNames(_ error: any Error, path: String) -> any Error {
        switch error {
        case var error as SampleError where error.isLogRead:
            error.note = otherNamesNote(path)
            return error
        case let error as EventStoreError
        where [.corruptDatabase, .notADatabase, .storageFailure].contains(error.code):
            guard let note = otherNamesNote(path) else { return error }
            // As `main` would say it, with the note after it.
            return SampleError(OneLine.text(error.message), note: note)
        default:
            return error
        }
    }

    /// Refuses (exit status 2) a ledger at `path` that is also named otherwise in its directory (a hard link) when
    /// the WAL beside that other name holds frames: commits a process made by that name and has not yet copied into
    /// the file. A connection by `path` would not see them, since SQLite names a WAL after the name its database was
    /// opened by: a read would miss them or meet pages half-copied, and a write would build on a log without them.
    /// Other names elsewhere are not looked for; a failed read then says that the file has other names.
    static func refuseOtherNameWithWAL(_ path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_nlink > 1 else { return }
        let parts = PathParts(path)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parts.directory) else { return }
        for name in names.sorted() where name != parts.name {
            var other = stat()
            var wal = stat()
            let otherPath = parts.sibling(name)
            guard lstat(otherPath, &other) == 0, other.st_dev == status.st_dev, other.st_ino == status.st_ino,
                stat(otherPath + "-wal", &wal) == 0, wal.st_size > 0
            else { continue }
            throw SampleError.refusal(
                "\(path) is the same file as \(otherPath) (a hard link), and \(otherPath)-wal holds commits not yet "
                    + "copied into the file: SQLite keeps a WAL beside the name the database was opened by, so a read "
                    + "or a run by \(path) would not see them. Use \(otherPath); nothing was changed")
        }
    }

    /// Writes ``otherNamesNote(_:)`` to standard error when `store` is the SQLite ledger at `path` and the file has
    /// other names: for `verify` and `replay`, whose reads found violations in the log.
    static func noteOtherNames(of store: some EventStore, at path: String) {
        guard store is SQLiteReadOnlyEventStore || store is SQLiteEventStore, let note = otherNamesNote(path) else {
            return
        }
        StandardError.write("note: \(note)\n")
    }

    /// Why a read of the SQLite ledger at `path` that failed, or found it damaged, may have met a run writing it by
    /// another name; `nil` when the file has one name.
    ///
    /// SQLite keeps what a connection has committed but not yet copied into the database file in a WAL named after
    /// the name that connection opened: a reader by another name of the same file (a hard link) neither sees that WAL
    /// nor holds the locks that keep a checkpoint from rewriting the pages it reads, so it can meet half-copied pages,
    /// index entries without their rows, or a log that ends before its head.
    static func otherNamesNote(_ path: String) -> String? {
        var status = stat()
        // A directory's link count counts its subdirectories' `..`, not names.
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_nlink > 1 else { return nil }
        return "\(path) has \(status.st_nlink) names (hard links). SQLite keeps what a writer has not yet copied into "
            + "the file in a WAL named after the name the writer opened, so a read by another name does not see it: if "
            + "a run writes this ledger under another name, what this command reported may come from that, not from "
            + "damage. Read the ledger by the name the run writes to (a WAL that a run leaves beside it stays there "
            + "until the next run that writes the ledger)."
    }

    /// The refusal of a command that only reads, of a store at another schema version than this code's.
    static func otherVersionRefusal(_ error: EventStoreError, _ configuration: PostgresEventStore.Configuration)
        -> SampleError
    {
        SampleError.refusal(
            "\(OneLine.text(error.message)) (\(configuration)); nothing was changed: this command only reads. A "
                + "ledger of an older schema version is migrated by a command that writes it (run --keep, a cluster "
                + "node), after which processes of the older version that run go on but none starts again; one of a "
                + "newer version is read by the newer sample")
    }

    private func withPostgres<Command: StoreCommand>(
        _ configuration: PostgresEventStore.Configuration,
        _ access: Access,
        _ command: Command
    ) async throws -> Command.Output {
        let place = "schema \(configuration.schema) of \(configuration)"
        var found = try await Self.inspect(configuration)
        var isCreated = false
        let token = UInt64.random(in: 1...EventStoreValidation.maximumPosition)
        switch access {
        case .existing:
            guard found.holdsStore else {
                throw SampleError.refusal(
                    "\(found.description) in \(configuration), so there is no store to read; nothing was changed: give "
                        + "--database the schema of a store (?schema=NAME)")
            }
            // Reading needs no more than SELECT: the store neither creates nor migrates anything, and every
            // transaction is read-only.
            var readOnly = configuration
            readOnly.isReadOnly = true
            do {
                return try await Self.withRunningStore(readOnly) { store, opened in
                    try await command.run(on: store, database: opened)
                }
            } catch let error as EventStoreError where error.code == .incompatibleSchema {
                // The schema holds a store (looked at above), of another version: this command reads, and neither
                // creates nor migrates anything.
                throw Self.otherVersionRefusal(error, configuration)
            } catch {
                // A role that may read the store's version but not its log (or its checkpoints).
                throw PostgresProblem.missingReadPrivilege(error, configuration) ?? error
            }
        case .create(let fresh, _):
            guard fresh || !found.holdsStore else { break }
            guard found.otherObjects.isEmpty else {
                throw SampleError.refusal(
                    "\(found.description) in \(configuration); run leaves them alone, and nothing was changed: give "
                        + "--database another schema (?schema=NAME)")
            }
            // One transaction creates the ledger with its mark, replacing a ledger the sample created before (and
            // nothing else: another store, a store that some process runs, anything beside it): the schema holds
            // the old ledger or the new one, whenever the run ends. An older ledger is not migrated first. The
            // mark's value is this run's own, so that the run knows its ledger from one another run put there.
            // The same transaction refuses while the ledger's cluster holds state of a log (`LedgerClusterState`),
            // which no new ledger matches, and gives the ledger its identity (`LedgerIdentity`). A kept run (--keep,
            // --cluster) found no store, and replaces nothing: a store there by the time of the transaction was
            // made meanwhile, by a node's store as it started or by another run.
            do {
                // A connection lost while the transaction commits leaves its outcome unknown to the client.
                let outcome = "the ledger is created in one transaction: the schema holds what it held or a new ledger"
                _ = try await PostgresProblem.mapping(configuration, changes: outcome) {
                    try await PostgresEventStore.restore(
                        [], checkpoints: [LedgerMark.consumer: token, LedgerIdentity.consumer: LedgerIdentity.new()],
                        configuration: configuration,
                        replacingStoreMarkedBy: fresh ? LedgerMark.consumer : nil,
                        refusal: LedgerClusterState.refusal(creatingLedgerIn: configuration, by: "run"))
                }
            } catch let error as EventStoreError where error.code == .invalidArgument {
                // The store made meanwhile is the one a kept run adds to, as it would had it been there first.
                if !fresh {
                    let now = try await Self.inspect(configuration)
                    if now.holdsStore {
                        found = now
                        break
                    }
                }
                let elsewhere = "give --database another schema (?schema=NAME)"
                guard error.message.contains(LedgerMark.consumer) else {
                    throw SampleError.refusal("\(OneLine.text(error.message)); run leaves it alone: \(elsewhere)")
                }
                guard try await Self.holdsImportedLog(configuration) else {
                    throw SampleError.refusal(
                        "\(place) holds a Whizbang store that this sample did not create; run leaves it alone: "
                            + elsewhere)
                }
                throw SampleError.refusal(
                    "\(place) holds a log imported from a file; run never starts imported events over: \(elsewhere), "
                        + "or --keep to add to it")
            }
            isCreated = true
        }
        let (created, replaced) = (isCreated, found.holdsStore)
        // What a run leaves when the server fails under it: the commands it completed are in the ledger.
        let partial = "the commands completed before are in the ledger"
        // One run at a time writes a ledger: its store holds the schema's writer lock, which another run's store
        // holds while it writes (as the SQLite ledger's run lock does).
        var writing = configuration
        writing.holdsWriterLock = true
        do {
            return try await runLedger(
                writing, created: created, replaced: replaced, token: token, changes: partial, command)
        } catch let error as EventStoreError where error.code == .closed && error.message.contains("writer lock") {
            // The store closed itself: its connection was lost, and another run took the lock meanwhile.
            throw SampleError(
                "\(place): this run stopped when another run took the ledger's writer lock while this run's "
                    + "connection to the server was lost; \(partial)")
        } catch let error as EventStoreError
            where error.code == .invalidArgument && error.message.contains("writer lock")
        {
            let what =
                created
                ? (replaced ? "the ledger it held was replaced by a new one, and this run wrote nothing more"
                    : "this run created a new ledger there and wrote nothing more")
                : "so this one changed nothing"
            throw SampleError(
                "\(place) is being written by another run; one run at a time adds to a ledger, \(what): wait for it "
                    + "to finish, or give --database another schema (?schema=NAME)",
                exitStatus: created ? 1 : 2)
        }
    }

    /// Runs `command` on the ledger in `configuration`, checking first that a ledger this run created (`created`,
    /// with the mark's value `token`) is still the one there.
    private func runLedger<Command: StoreCommand>(
        _ configuration: PostgresEventStore.Configuration, created: Bool, replaced: Bool, token: UInt64,
        changes partial: String, _ command: Command
    ) async throws -> Command.Output {
        let place = "schema \(configuration.schema) of \(configuration)"
        return try await Self.withRunningStore(configuration, changes: partial) { store, opened in
            // Another run may have replaced the new ledger before this store started, and so before it held the
            // schema (a running store holds it: no other run replaces the ledger from then on). Only this run's own
            // ledger is run on.
            if created, try await store.checkpoint(for: LedgerMark.consumer) != token {
                throw SampleError(
                    "\(place) changed while this run created its ledger (another run on the same schema?): "
                        + (replaced ? "the ledger it held was replaced, and " : "")
                        + "this run wrote nothing more; give --database a schema that no other run uses",
                    exitStatus: replaced ? 1 : 2)
            }
            return try await command.run(on: store, database: opened)
        }
    }

    /// What `configuration`'s schema holds, a role that cannot read it said as such.
    private static func inspect(_ configuration: PostgresEventStore.Configuration) async throws -> PostgresStoreSchema {
        // Inspecting only reads: a role that may not is told which reading privilege it lacks.
        var readOnly = configuration
        readOnly.isReadOnly = true
        return try await PostgresProblem.mapping(readOnly) {
            try await PostgresEventStore.inspectSchema(configuration: configuration)
        }
    }

    /// Whether the store in `configuration` holds a log that `import` wrote (``LedgerMark/importConsumer``), read
    /// through a read-only store; `false` when it cannot be read.
    private static func holdsImportedLog(_ configuration: PostgresEventStore.Configuration) async throws -> Bool {
        var readOnly = configuration
        readOnly.isReadOnly = true
        let found = try? await withRunningStore(readOnly) { store, _ in
            try await store.checkpoint(for: LedgerMark.importConsumer) != nil
        }
        return found ?? false
    }

    /// Runs a store on `configuration` for the length of `body`, then closes it and waits for it to stop.
    ///
    /// A failure to reach the server is a refusal (exit status 2) unless `changes` says what `body` may have changed
    /// by then (``PostgresProblem/mapping(_:changes:_:)``).
    private static func withRunningStore<Output: Sendable>(
        _ configuration: PostgresEventStore.Configuration,
        changes: String? = nil,
        _ body: @Sendable (PostgresEventStore, OpenedDatabase) async throws -> Output
    ) async throws -> Output {
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        let opened = OpenedDatabase(name: configuration.description, close: { store.close() }) {
            let bytes = (try? await store.storageBytes()) ?? 0
            store.close()
            return bytes
        }
        return try await PostgresProblem.mapping(configuration, changes: changes) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                do {
                    let output = try await body(store, opened)
                    store.close()
                    try await group.waitForAll()
                    return output
                } catch {
                    store.close()
                    try? await group.waitForAll()
                    throw error
                }
            }
        }
    }
}

/// What a command does with an open store of either kind.
protocol StoreCommand: Sendable {
    associatedtype Output: Sendable
    func run<Store: EventStore>(on store: Store, database: OpenedDatabase) async throws -> Output
}

/// The open database's name, and ways to close it early, for reports.
struct OpenedDatabase: Sendable {
    var name: String
    /// Closes the store.
    var close: @Sendable () -> Void
    /// Closes the store and returns the bytes the database takes.
    var closeAndMeasure: @Sendable () async -> Int
    /// Opens the database again, for reading only, where a second store can read it (SQLite): a long read after the
    /// store is closed then runs without the writer's page cache and stream cache beside it.
    var openForReading: (@Sendable () async throws -> SQLiteReadOnlyEventStore)?

    init(
        name: String, close: @escaping @Sendable () -> Void, closeAndMeasure: @escaping @Sendable () async -> Int
    ) {
        self.name = name
        self.close = close
        self.closeAndMeasure = closeAndMeasure
    }
}
