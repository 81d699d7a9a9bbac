import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import WhizbangConsole
import WhizbangPostgres
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

/// Serves the web console on a ledger store, read-only: a SQLite file (opened `mode=ro`, so a `run` may go on
/// writing it) or a PostgreSQL schema.
struct ServeCommand: AsyncParsableCommand, StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the read-only web console, JSON API, /metrics and health checks on a store.")

    @OptionGroup var database: DatabaseOption
    @Option(help: "The address to listen on; any address other than loopback needs --token.")
    var host = "127.0.0.1"
    @Option(help: "The port to listen on; 0 picks a free one.") var port = 8080
    @Option(
        help: ArgumentHelp(
            "The access token requests must carry (Bearer header or sign-in cookie); at least 16 characters.",
            discussion: "WHIZBANG_CONSOLE_TOKEN in the environment is used when the option is absent."))
    var token: String?
    @Option(name: .customLong("projection"), help: "A checkpoint name to show with its lag; may be repeated.")
    var projections: [String] = []
    @Option(help: "The lag in events above which /health/ready reports unready.") var maximumLag: UInt64 = 10_000
    @Option(
        help: ArgumentHelp(
            "Seconds a graceful shutdown may take before open connections are cut.",
            discussion: "SIGINT or SIGTERM begins a graceful shutdown; a second one cuts it short at once."))
    var shutdownSeconds = 10

    /// The console's configuration from the options.
    var consoleConfiguration: ConsoleConfiguration {
        var configuration = ConsoleConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.accessToken = token ?? ProcessInfo.processInfo.environment["WHIZBANG_CONSOLE_TOKEN"]
        configuration.projections = projections
        configuration.maximumReadyLag = maximumLag
        return configuration
    }

    func run() async throws {
        // An unsafe address is refused before anything is opened.
        do throws(ConsoleError) {
            try consoleConfiguration.validate()
        } catch {
            throw SampleError.refusal(error.message)
        }
        // A day at most: far past any service manager's stop timeout, and far from the overflow of a deadline.
        guard (1...86_400).contains(shutdownSeconds) else {
            throw SampleError.refusal(
                "--shutdown-seconds must be from 1 to 86400 (a day); it is \(shutdownSeconds)")
        }
        try await database.target().with(.existing, self)
    }

    func run<Store: EventStore>(on store: Store, database opened: OpenedDatabase) async throws {
        var configuration = consoleConfiguration
        configuration.storeSize = Self.sizeMeasure(of: store, name: opened.name)
        if store is SQLiteReadOnlyEventStore { configuration.readinessProblems = Self.replacementCheck(of: opened.name) }
        if let postgres = store as? PostgresEventStore { configuration.clusterStatus = Self.clusterReader(of: postgres) }
        let console: StoreConsole<Store>
        do throws(ConsoleError) {
            console = try StoreConsole(store: store, configuration: configuration)
        } catch {
            throw SampleError.refusal(error.message)
        }
        let host = host
        let service = ListeningConsole(console: console) { port in
            // Written unbuffered, so that a script reading the output learns the port at once.
            let address = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
            // print, not FileHandle.write, which traps when the write fails; flushed so that a reader sees it now.
            StandardOutput.line("console for \(opened.name) at http://\(address):\(port)/")
            fflush(nil)
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: [service], logger: Logger(label: "whizbang.sample.serve"))
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(shutdownSeconds)
        try await Self.run(ServiceGroup(configuration: groupConfiguration))
    }

    /// Signals that arrive within this time of the first are the same request to stop, not a second one: `timeout`
    /// sends SIGTERM to the process and then to its process group, and a service manager may do the same.
    static let repeatedSignalWindow = Duration.seconds(1)

    /// Runs `group` until it ends: the first SIGINT or SIGTERM begins its graceful shutdown (which its configuration
    /// bounds), a second one, later than `repeatWindow` after the first, cancels it at once. The group's own
    /// signal handling cannot do this: it refuses a signal that is both a graceful-shutdown and a cancellation signal.
    ///
    /// - Returns: `true` when a second signal cancelled the group, `false` when it ended by itself or gracefully.
    @discardableResult
    static func run(_ group: ServiceGroup, repeatWindow: Duration = repeatedSignalWindow) async throws -> Bool {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        return try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                try await group.run()
                return false
            }
            tasks.addTask {
                var first: ContinuousClock.Instant?
                for await signal in signals {
                    if let first {
                        if ContinuousClock.now - first > repeatWindow { return true }
                        continue
                    }
                    first = .now
                    StandardError.write(
                        "stopping on \(signal); another signal, a second or more from now, cancels what is left of the "
                            + "stop\n")
                    await group.triggerGracefulShutdown()
                }
                return false
            }
            defer { tasks.cancelAll() }
            guard try await tasks.next() == true else { return false }
            // The second signal: cancel the group, and let it end.
            tasks.cancelAll()
            do {
                while try await tasks.next() != nil {}
            } catch is CancellationError {
                // The group ended because the second signal cancelled it.
            }
            return true
        }
    }
}

extension ServeCommand {
    /// How to measure the store for the overview: the SQLite file and its WAL, or the PostgreSQL schema's tables.
    /// The device and inode of the file at `path` (links followed), or `nil` when there is none.
    private static func fileIdentity(_ path: String) -> (UInt64, UInt64)? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return (UInt64(truncatingIfNeeded: status.st_dev), UInt64(truncatingIfNeeded: status.st_ino))
    }

    /// A readiness check of the SQLite ledger at `path`: the console reads the file it opened, so a ledger deleted
    /// (and perhaps made again) at `path` since then is no longer the one at `--database`, though its reads still
    /// answer. Compared by device and inode, which `serve`'s open keeps the file's while it runs.
    static func replacementCheck(of path: String) -> @Sendable () -> [String] {
        let opened = fileIdentity(path)
        return {
            let now = fileIdentity(path)
            guard let opened, let now, now == opened else {
                return [
                    "the ledger at \(path) was "
                        + (now == nil ? "deleted" : "deleted or replaced") + " since serve opened it: this console "
                        + "still shows the ledger it opened; restart serve to show the one at \(path)"
                ]
            }
            return []
        }
    }

    static func sizeMeasure<Store: EventStore>(of store: Store, name: String) -> @Sendable () async throws -> Int {
        if let postgres = store as? PostgresEventStore {
            return { try await postgres.storageBytes() }
        }
        return { LedgerStore.databaseBytes(path: name) }
    }
}

/// Runs the console and says where it listens once it does.
private struct ListeningConsole<Store: EventStore>: Service {
    let console: StoreConsole<Store>
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        try await console.run(onListening: { port in onListening(port) })
    }
}
