public import Logging
public import Whizbang

extension PostgresEventStore {
    /// Where a ``PostgresEventStore`` connects and how it batches, pools and names things.
    ///
    /// Build one from a URL with ``init(url:environment:)``, from libpq's environment variables with
    /// ``init(environment:)``, or field by field. The defaults connect to `localhost:5432` with TLS when the server
    /// offers it, keep the tables in the schema `whizbang`, pool up to 8 connections and fold up to 1,024 appends into
    /// one transaction.
    ///
    /// Every time set here is at most 100 years: ``PostgresEventStore/init(configuration:)`` refuses a longer one
    /// with `EventStoreError/Code/invalidArgument`.
    ///
    /// The password never appears in ``description``, in a `Mirror` of the configuration, or in the store's logs.
    public struct Configuration: Sendable {
        /// How the connection uses TLS, after libpq's `sslmode`.
        public struct TLSMode: Hashable, Sendable, CustomStringConvertible {
            enum Base: String, Hashable, Sendable {
                case disable, prefer, require
                case verifyCA = "verify-ca"
                case verifyFull = "verify-full"
            }

            let base: Base

            /// Plain TCP, never TLS.
            public static let disable = TLSMode(base: .disable)
            /// TLS when the server offers it, without checking its certificate; plain TCP otherwise.
            public static let prefer = TLSMode(base: .prefer)
            /// TLS or no connection, without checking the server's certificate.
            public static let require = TLSMode(base: .require)
            /// TLS with a certificate signed by a trusted authority, for any host name.
            public static let verifyCA = TLSMode(base: .verifyCA)
            /// TLS with a certificate signed by a trusted authority and issued for the host connected to.
            public static let verifyFull = TLSMode(base: .verifyFull)

            /// The mode for a libpq `sslmode` value (`allow` counts as `prefer`), or `nil` for an unknown one.
            public init?(sslmode: String) {
                if sslmode == "allow" {
                    self = .prefer
                    return
                }
                guard let base = Base(rawValue: sslmode) else { return nil }
                self.base = base
            }

            init(base: Base) { self.base = base }

            /// The libpq `sslmode` spelling, such as `verify-full`.
            public var description: String { base.rawValue }
        }

        /// The server's host name or IP address, or a directory holding its Unix-domain socket when it starts with
        /// `/`. Default `localhost`.
        public var host: String = "localhost"
        /// The server's TCP port (also the suffix of its socket file). Default 5432.
        public var port: Int = 5432
        /// The role to connect as. Default `postgres`.
        public var username: String = "postgres"
        /// The role's password, or `nil` for none (trust or peer authentication). Default `nil`.
        public var password: String? = nil
        /// The database, or `nil` for the one named like the role. Default `nil`.
        public var database: String? = nil
        /// Whether and how the connection uses TLS. Default ``TLSMode/prefer``, as libpq.
        public var tls: TLSMode = .prefer
        /// A PEM file of the certificate authorities that sign the server's certificate (libpq's `sslrootcert`),
        /// used with ``TLSMode/verifyCA`` and ``TLSMode/verifyFull``; with ``TLSMode/require`` it makes the store
        /// check the certificate as with `verifyCA`, as libpq does. `nil` trusts the system's authorities.
        /// Default `nil`.
        public var rootCertificatePath: String? = nil

        /// The PostgreSQL schema that holds the store's tables, created if missing: lower-case ASCII letters,
        /// digits and underscores, starting with a letter or an underscore, at most 48 characters. Two stores on one
        /// database are separate when their schemas differ. Default `whizbang`.
        public var schema: String = "whizbang"

        /// The most connections the pool opens: one commits appends, the rest serve reads and the checkpoint and
        /// snapshot writes. The connection that listens for other processes' appends is one more, apart from the
        /// pool. At least 2. Default 8.
        public var maximumConnections: Int = 8

        /// The most appends folded into one transaction by group commit. 1 turns group commit off. Default 1,024.
        public var maximumBatchSize: Int = 1024

        /// The most bytes of events folded into one transaction, counted as ``PostgresEventStore/maximumAppendBytes``
        /// counts them; a larger single append still goes alone. At most that limit. Default 16 MiB.
        public var maximumBatchBytes: Int = 16 << 20

        /// The largest event data, event metadata or snapshot data accepted, in bytes; larger ones fail with
        /// `EventStoreError/Code/payloadTooLarge`. At most 256 MiB. Default 1 MiB.
        public var maximumPayloadBytes: Int = 1 << 20

        /// How long to wait before connecting again when the connection that listens for other processes' appends
        /// fails. Default 1 second.
        public var listenerReconnectDelay: Duration = .seconds(1)

        /// How long a call waits for a connection: to open one (connect and authenticate) or to get one of the
        /// pool's. A call that has none by then fails with `EventStoreError/Code/unavailable` ("cannot reach
        /// PostgreSQL"). Positive and at most 100 years. Default 10 seconds.
        public var connectTimeout: Duration = .seconds(10)

        /// The longest a call's statements run once it holds a connection (getting the connection is bounded by
        /// ``connectTimeout``). A call that misses it fails with `EventStoreError/Code/unavailable`, the connection
        /// it used is closed (the pool opens a new one), and the store goes on with the next call; an append that
        /// failed so may still have committed, and a retry with the same event ids and expected version says so.
        /// A missed deadline is noticed at most a sixteenth of the shorter of the two limits late, and at most
        /// 100 milliseconds late. Calls made before
        /// ``PostgresEventStore/run()`` has started the store wait for it at most ``connectTimeout`` plus this, and
        /// at least a minute. It also bounds each wait for a lock and each statement of the administration calls
        /// (``PostgresEventStore/dropStoreTables(configuration:)`` and the like) and of ``PostgresEventStore/run()``'s
        /// migration. Positive and at most 100 years (a longer one, such as `.seconds(Int64.max)` meant as "no
        /// limit", is refused with `EventStoreError/Code/invalidArgument`); for the server's lock and statement
        /// timeouts, anything above about 24 days counts as 24 days. Default 10 seconds.
        public var requestTimeout: Duration = .seconds(10)

        /// When an append counts as committed on PostgreSQL.
        public enum Durability: Hashable, Sendable {
            /// Every connection sets `synchronous_commit = on`, whatever the server, database or role says: an
            /// append returns after its commit record is flushed to disk (and to synchronous standbys, if any), so
            /// it survives a crash of the server.
            case full
            /// Every connection sets `synchronous_commit = off`: an append returns before its commit is flushed, so
            /// a crash of the server (not of this process) can lose the appends of the last moments (at most about
            /// three times the server's `wal_writer_delay`); what remains is consistent, never a part of an append.
            /// Readers may already have seen those appends. Positions follow the log's last event, so after such a
            /// loss the next appends take the lost positions again: a consumer that had read past them (a
            /// subscription, a checkpoint, a read model kept elsewhere) would skip the new events there. After a
            /// crash of the server with this setting, rebuild such consumers from a position before the loss. (The
            /// same holds with ``full`` when a failover to an asynchronous standby loses commits.)
            case normal
        }

        /// When an append counts as committed. Default ``Durability/full``.
        public var durability: Durability = .full

        /// The server's `statement_timeout` for the store's connections: a statement running longer is cancelled
        /// and fails with `EventStoreError/Code/unavailable`. `nil` leaves the server's setting. Default `nil`.
        public var statementTimeout: Duration? = nil

        /// The server's `idle_in_transaction_session_timeout` for the store's connections. `nil` leaves the
        /// server's setting. Default `nil`.
        public var idleInTransactionTimeout: Duration? = nil

        /// How long a connection may stay idle before it is probed: the pool runs `SELECT 1` on an idle connection
        /// after this long, the server sends TCP keepalives after this long without traffic and as often after that
        /// (`tcp_keepalives_idle` and `tcp_keepalives_interval`), ending the session after three unanswered ones
        /// (`tcp_keepalives_count`), and the connection that listens for other processes' appends reads the head this
        /// often, closed and opened again when it does not answer within ``requestTimeout``; so a dead peer or a
        /// silent network path is noticed on both sides, and the server frees a cut-off client's locks within four
        /// intervals. `nil` turns all three off. Default 30 seconds.
        public var keepAliveInterval: Duration? = .seconds(30)

        /// How long a subscription of ``PostgresEventStore/subscribe(after:batchSize:)`` goes on retrying while the
        /// server is unavailable before it ends with `EventStoreError/Code/unavailable`; `nil` retries until the
        /// store closes. Default `nil`.
        ///
        /// The outage counts from the store's first request that failed, the listening connection's included (or
        /// from when the subscription began to read or wait, if later). A subscription that has caught up and waits
        /// learns of one from the listener, which notices it at once when the server closes the connection (a crash,
        /// a restart) and within ``keepAliveInterval`` and ``requestTimeout`` when the connection goes silent; the
        /// subscription looks every quarter of the limit (at most every second), reads, and ends once the limit has
        /// passed.
        public var subscriptionOutageLimit: Duration? = nil

        /// The longest pause between two attempts of a subscription or the listener to read again during an
        /// outage; the first pause is 50 milliseconds, and each next one twice as long up to this. Default 2 seconds.
        public var maximumRetryDelay: Duration = .seconds(2)

        /// Whether the store only reads: ``PostgresEventStore/run()`` neither creates nor migrates the schema but
        /// checks that it holds a store at the version this code writes (and fails with
        /// `EventStoreError/Code/incompatibleSchema` when it does not), every connection starts with
        /// `default_transaction_read_only = on`, and appends, checkpoints and snapshots fail with
        /// `EventStoreError/Code/readOnly` before reaching the server. A role with only `USAGE` on the schema and
        /// `SELECT` on its tables can then read a store. Default `false`.
        public var isReadOnly: Bool = false

        /// Whether the store holds the schema's writer lock while it runs, so that no other store with this setting
        /// runs on the schema at the same time, in this process or another. Default `false`.
        ///
        /// Take it where one writer at a time is part of the design (a batch job that must not run twice, a tool that
        /// checks what it wrote). The lock is an advisory lock, taken on the listening connection before the store
        /// opens to calls (tried every 50 milliseconds for up to 2 seconds, never queued behind its holder): a store
        /// that finds it held fails to start with `EventStoreError/Code/invalidArgument`, saying so. It keeps out
        /// only stores that ask for it too: stores without the setting run beside it, and a read-only store cannot
        /// take it (the configuration is refused).
        ///
        /// The lock lasts as long as the listening connection's session. When that connection is lost, the listener
        /// takes the lock again on its next one. A session of this store's own that still holds it (a connection
        /// given up as silent, whose server process has not noticed) is ended, for its process id and start time
        /// only. A store that finds the lock taken by another closes itself (its calls, and
        /// ``PostgresEventStore/run()``, fail with `EventStoreError/Code/closed`), since another writer has started.
        /// Between the lost connection and the next, another such store can start while this one still appends: the
        /// lock is a guard against running two writers by mistake, not a fence (expected versions keep every stream
        /// consistent either way). Use it on direct connections: behind a pooler in session mode a server session can
        /// serve another client once this store's connection is gone, and a store that took it for its own would end
        /// that client's session.
        public var holdsWriterLock: Bool = false

        /// The read models the store keeps in its schema and serves
        /// (``PostgresEventStore/readModelRows(named:matching:)`` and `ReadModel`), with distinct names. Every process
        /// that appends to the schema should register the same `ReadModelMode/inline` read models: an append made
        /// without one leaves it behind, and a store that registers it then catches it up from the log (its rows lag
        /// meanwhile, as an async read model's do). Default: none.
        public var readModels: [any ReadModelProjection] = []

        /// The most events one transaction of a backfill, rebuild or `ReadModelMode/async` read model applies. Each
        /// such transaction holds the store's append lock while it runs, so appends wait for at most one batch.
        /// At least 1. Default 1,000.
        public var readModelBatchSize: Int = 1000

        /// How often the store looks at its read models' state when nothing woke it (another process may have
        /// asked for a rebuild, or stopped following one), and the longest
        /// ``PostgresEventStore/waitForReadModel(named:toReach:timeout:)`` waits between two looks. Default 1 second.
        public var readModelPollInterval: Duration = .seconds(1)

        /// Where the store (and its PostgreSQL client) logs, at debug and trace level. Default: a logger labelled
        /// `"whizbang.postgres"`.
        public var logger: Logger = Logger(label: "whizbang.postgres")

        /// Creates a configuration with the default values.
        public init() {}

        /// Why the password file was passed over (libpq's rules: a regular file that only its owner may read or
        /// write), for the warning a store and each administration call log when they start; `nil` when it was read,
        /// missing, or not looked for.
        var ignoredPasswordFile: String?

        /// Logs ``ignoredPasswordFile``, if any, as a warning (libpq says the same on standard error), unless a
        /// password was set since, which the file would not have been read for.
        func warnOfIgnoredPasswordFile() {
            guard let ignoredPasswordFile, password == nil else { return }
            logger.warning("\(ignoredPasswordFile)")
        }

        /// The channel on which the append function announces new heads.
        var notificationChannel: String { "whizbang_\(schema)" }

        /// The logger for postgres-nio's pool: the store's own, unless that logs above debug level, when the pool
        /// logs only errors. The store itself logs one warning per outage and one info line at recovery; the pool
        /// would log a line for each connection attempt.
        var poolLogger: Logger {
            var logger = logger
            if logger.logLevel > .debug { logger.logLevel = max(logger.logLevel, .error) }
            return logger
        }

        /// The server for messages: `host:port`, or the socket directory and port.
        var serverDescription: String {
            if host.hasPrefix("/") { return "\(host) (port \(port))" }
            return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

extension PostgresEventStore.Configuration: CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The connection as a URL with the password masked, and the schema.
    public var description: String {
        var text = "postgres://\(username)"
        if password != nil { text += ":***" }
        let hostText = host.contains(":") ? "[\(host)]" : host
        text += "@\(hostText):\(port)/\(database ?? "")?sslmode=\(tls)&schema=\(schema)"
        return text
    }

    /// The same as ``description``: the password is masked.
    public var debugDescription: String { description }

    /// A mirror that shows the connection settings with the password masked.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "username": username, "password": password == nil ? "nil" : "***",
                "database": database as Any, "tls": tls, "schema": schema,
            ],
            displayStyle: .struct
        )
    }
}
