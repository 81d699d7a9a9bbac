import ArgumentParser
import WhizbangStore

/// `--database PATH|URL`, shared by every command.
struct DatabaseOption: ParsableArguments {
    @Option(
        name: .long,
        help: "The SQLite database file, or a PostgreSQL database as postgres://user@host:port/db[?schema=NAME].")
    var database = "whizbang-sample.sqlite"
}

/// How commits are made durable.
enum DurabilityOption: String, ExpressibleByArgument, CaseIterable, Sendable {
    case full, normal

    var storeDurability: SQLiteEventStore.Configuration.Durability {
        self == .full ? .full : .normal
    }
}
