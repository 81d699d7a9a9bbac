import Foundation
import WhizbangStore

/// Opens, creates and measures the SQLite files the sample works on, turning store errors into clear messages.
enum LedgerStore {
    /// The store configuration the sample uses.
    static func configuration(durability: SQLiteEventStore.Configuration.Durability) -> SQLiteEventStore.Configuration {
        var configuration = SQLiteEventStore.Configuration()
        configuration.durability = durability
        // Mapped pages of the file count as resident memory; the page caches alone keep reads fast here, and peak
        // memory stays well under the 200 MiB budget (with the default 256 MiB map it reached ~190 MiB).
        configuration.memoryMapBytes = 0
        configuration.pageCacheBytes = 32 << 20
        // The workload dirties pages of the stream index all over the file, and a checkpoint copies each dirty page
        // once however many commits wrote it: checkpointing every ~160 MiB of WAL instead of ~40 MiB copies fewer
        // pages per command (+9–12% commands/s at `normal` here, measured in pairs). The WAL then peaks at ~550 MiB
        // of disk during a run; it is removed on close.
        configuration.checkpointPages = 40_000
        return configuration
    }

    /// Opens an existing Whizbang store, failing clearly when the file is missing or is not one.
    ///
    /// The file's header is checked before SQLite opens it, so a file of another kind is never modified.
    static func openExisting(
        path: String,
        durability: SQLiteEventStore.Configuration.Durability = .normal
    ) async throws -> SQLiteEventStore {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SampleError("no database at \(path)")
        }
        try checkHeader(path: path)
        return try await open(path: path, durability: durability)
    }

    /// Opens the store at `path`, creating it; with `fresh`, any existing database there is removed first.
    static func create(
        path: String,
        fresh: Bool,
        durability: SQLiteEventStore.Configuration.Durability
    ) async throws -> SQLiteEventStore {
        if fresh {
            try removeDatabase(path: path)
        } else if FileManager.default.fileExists(atPath: path) {
            try checkHeader(path: path)
        }
        return try await open(path: path, durability: durability)
    }

    /// Removes a database file and its WAL and shared-memory files.
    static func removeDatabase(path: String) throws {
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            do {
                try FileManager.default.removeItem(atPath: file)
            } catch {
                throw SampleError("cannot remove \(file): \(error.localizedDescription)")
            }
        }
    }

    /// The bytes the database occupies: the file plus its WAL, if any.
    static func databaseBytes(path: String) -> Int {
        [path, path + "-wal"].reduce(0) { total, file in
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue
            return total + (size ?? 0)
        }
    }

    /// The bytes of the WAL file alone; 0 when there is none.
    static func walBytes(path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)?.intValue) ?? 0
    }

    private static func open(
        path: String,
        durability: SQLiteEventStore.Configuration.Durability
    ) async throws -> SQLiteEventStore {
        do {
            return try await SQLiteEventStore.open(path: path, configuration: configuration(durability: durability))
        } catch let error as EventStoreError {
            switch error.code {
            case .notADatabase, .incompatibleSchema, .corruptDatabase:
                throw SampleError("\(path) is not a Whizbang store (\(error.message))")
            default:
                throw SampleError("cannot open \(path): \(error.message)")
            }
        }
    }

    /// Rejects a file that is not an SQLite database, or is one belonging to another application.
    private static func checkHeader(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw SampleError("cannot read \(path)")
        }
        defer { try? handle.close() }
        let header = (try? handle.read(upToCount: 100)) ?? Data()
        if header.isEmpty {
            // A store killed before its first checkpoint keeps everything in its WAL.
            guard FileManager.default.fileExists(atPath: path + "-wal") else {
                throw SampleError("\(path) is empty, not a Whizbang store")
            }
            return
        }
        guard header.count == 100, header.prefix(16) == Data("SQLite format 3\0".utf8) else {
            throw SampleError("\(path) is not a Whizbang store (not an SQLite database)")
        }
        let applicationID = header[68..<72].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard applicationID == 0 || applicationID == 0x5768_697A else {
            throw SampleError(
                "\(path) is not a Whizbang store (an SQLite database with application_id \(applicationID))")
        }
    }
}
