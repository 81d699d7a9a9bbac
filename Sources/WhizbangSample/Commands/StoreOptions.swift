import ArgumentParser
import WhizbangStore

/// `--database PATH|URL`, shared by every command.
struct DatabaseOption: ParsableArguments {
    @Option(
        name: .long,
        help: "The SQLite database file, or a PostgreSQL database as postgres://user@host:port/db[?schema=NAME].")
    var database = "whizbang-sample.sqlite"

    @Flag(help: "Show the PostgreSQL client's log lines below warning level.") var verbose = false

    /// Refuses, as an argument that does not validate (exit status 64), a `--database` that cannot name a store: an
    /// empty path or `-` (``PathArgument``), a path that names a directory (it ends in a slash, `.` or `..`), or a URL
    /// that does not parse (such as one whose `schema` is not a valid schema name). Nothing is opened or created.
    func validate() throws {
        try PathArgument.check(
            database, option: "--database", naming: "the path of an SQLite file, or a postgres:// URL")
        let target: SampleDatabase
        do {
            target = try self.target()
        } catch let error as SampleError {
            throw ValidationError("--database: \(error.description)")
        }
        guard case .sqlite = target else { return }
        let last = database.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        guard !database.hasSuffix("/"), last != ".", last != ".." else {
            throw ValidationError(
                "--database \(database) ends in \(last.isEmpty ? "a slash" : "'\(last)'"), so it names a directory: "
                    + "give the path of an SQLite file")
        }
    }

    /// The database named by `--database`.
    func target() throws -> SampleDatabase {
        try SampleDatabase(database, verbose: verbose)
    }
}

/// How commits are made durable.
enum DurabilityOption: String, ExpressibleByArgument, CaseIterable, Sendable {
    case full, normal

    var storeDurability: SQLiteEventStore.Configuration.Durability {
        self == .full ? .full : .normal
    }
}
