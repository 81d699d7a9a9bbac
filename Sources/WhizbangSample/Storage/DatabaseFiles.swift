import Foundation

/// The files of an SQLite database: the database itself and the WAL, shared-memory and rollback journal files SQLite
/// keeps beside it. The sample writes its own files (an export, a report, an ack log) only at a path that is none of
/// them: writing into one corrupts the database or is undone by SQLite, and a file named like a journal makes SQLite
/// take it for one and delete it.
enum DatabaseFiles {
    /// The suffixes SQLite gives a database's companion files.
    static let companionSuffixes = ["-wal", "-shm", "-journal"]

    /// Whether `path` is the database at `database` (by its name or, if both exist, the same file by any name) or one
    /// of its companion files, whether or not that file exists now. Symbolic links in both paths are followed, since
    /// SQLite keeps a linked database's companions beside the file the link names.
    ///
    /// A companion's name counts after any name of the database, a hard link's too: `ledger.sqlite-wal` is the WAL
    /// that SQLite reads into the file when the ledger is opened by that name, however it was named here.
    static func contains(_ path: String, database: String) -> Bool {
        let names = [database, ResolvedPath.of(database)].flatMap { name in ([""] + companionSuffixes).map { name + $0 } }
        let candidate = ResolvedPath.of(path)
        if names.contains(candidate) || names.contains(path) { return true }
        if let file = identity(database), companionSuffixes.contains(where: { suffix in
            candidate.hasSuffix(suffix) && identity(String(candidate.dropLast(suffix.count))).map { $0 == file } == true
        }) {
            return true
        }
        guard let target = identity(path) else { return false }
        return names.contains { identity($0).map { $0 == target } ?? false }
    }

    /// The device and inode of the file `path` names, links followed (by the kernel, `..` after a link included).
    private static func identity(_ path: String) -> (UInt64, UInt64)? {
        // Resolved with realpath(3), as the kernel follows it: a URL would drop `link/..` from a relative path.
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: ResolvedPath.of(path)),
            let device = (attributes[.systemNumber] as? NSNumber)?.uint64Value,
            let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value
        else { return nil }
        return (device, inode)
    }

    /// Refuses (exit status 2) an output at `path` that is one of the files of the SQLite database `database`, if
    /// the command works on one.
    ///
    /// - Parameter option: the option that named `path`, for the message, such as `--report`.
    static func refuse(_ path: String, as option: String, database: SampleDatabase) throws {
        guard case .sqlite(let database) = database, contains(path, database: database) else { return }
        throw SampleError.refusal(
            "\(option) \(path) is the database or one of the files SQLite keeps beside it (\(database), "
                + companionSuffixes.map { "\(database)\($0)" }.joined(separator: ", ")
                + ", or those of another name of its file); writing there would damage the database or be undone by "
                + "SQLite: give \(option) another path")
    }
}
