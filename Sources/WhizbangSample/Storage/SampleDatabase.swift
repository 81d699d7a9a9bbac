import Foundation
import WhizbangPostgres
import WhizbangStore

/// The `--database` argument: an SQLite file, or a PostgreSQL database given as a `postgres://` URL (its `schema`
/// parameter picks the schema, default `whizbang`; a password may also come from `PGPASSWORD`).
enum SampleDatabase {
    case sqlite(path: String)
    case postgres(PostgresEventStore.Configuration)

    /// How a command needs the store.
    enum Access {
        /// A store that exists already.
        case existing
        /// A store created if missing; with `fresh`, emptied first.
        case create(fresh: Bool, durability: SQLiteEventStore.Configuration.Durability)
        /// A store that must not exist yet (an import target).
        case new
    }

    init(_ argument: String) throws {
        guard argument.hasPrefix("postgres://") || argument.hasPrefix("postgresql://") else {
            self = .sqlite(path: argument)
            return
        }
        do {
            self = .postgres(try PostgresEventStore.Configuration(url: argument))
        } catch let error as EventStoreError {
            throw SampleError(error.message)
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
    func with<Command: StoreCommand>(_ access: Access, _ command: Command) async throws -> Command.Output {
        switch self {
        case .sqlite(let path):
            let store: SQLiteEventStore
            switch access {
            case .existing:
                store = try await LedgerStore.openExisting(path: path)
            case .create(let fresh, let durability):
                store = try await LedgerStore.create(path: path, fresh: fresh, durability: durability)
            case .new:
                if FileManager.default.fileExists(atPath: path) {
                    throw SampleError("\(path) already exists; import writes a new database")
                }
                store = try await LedgerStore.create(path: path, fresh: false, durability: .normal)
            }
            defer { store.close() }
            let opened = OpenedDatabase(name: path, close: { store.close() }) {
                store.close()
                return LedgerStore.databaseBytes(path: path)
            }
            return try await command.run(on: store, database: opened)
        case .postgres(let configuration):
            return try await withPostgres(configuration, access, command)
        }
    }

    private func withPostgres<Command: StoreCommand>(
        _ configuration: PostgresEventStore.Configuration,
        _ access: Access,
        _ command: Command
    ) async throws -> Command.Output {
        let place = "schema \(configuration.schema) of \(configuration)"
        do {
            let version = try await PostgresEventStore.installedSchemaVersion(configuration: configuration)
            switch access {
            case .existing:
                guard version != nil else { throw SampleError("no Whizbang store in \(place)") }
            case .create(let fresh, _):
                if fresh { try await PostgresEventStore.dropSchema(configuration: configuration) }
            case .new:
                guard version == nil else {
                    throw SampleError("\(place) already holds a store; import writes a new one")
                }
            }
        } catch let error as EventStoreError {
            throw SampleError("cannot open \(place): \(error.message)")
        }
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        let opened = OpenedDatabase(name: configuration.description, close: { store.close() }) {
            let bytes = (try? await store.storageBytes()) ?? 0
            store.close()
            return bytes
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            do {
                let output = try await command.run(on: store, database: opened)
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
}
