import ArgumentParser
import WhizbangStore

/// `--database PATH|URL`, shared by every command.
struct DatabaseOption: ParsableArguments {
    @Option(
        name: .long,
        help: "The SQLite database file, or a PostgreSQL database as postgres://user@host:port/db[?schema=NAME].")
    var database = "whizbang-sample.sqlite"

    @Flag(help: "Show the PostgreSQL client's log lines below warning level.") var verbose = false

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
