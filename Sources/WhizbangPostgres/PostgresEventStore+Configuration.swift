public import Logging

extension PostgresEventStore {
    /// Where a ``PostgresEventStore`` connects and how it batches, pools and names things.
    ///
    /// Build one from a URL with ``init(url:environment:)``, from libpq's environment variables with
    /// ``init(environment:)``, or field by field. The defaults connect to `localhost:5432` with TLS when the server
    /// offers it, keep the tables in the schema `whizbang`, pool up to 8 connections and fold up to 1,024 appends into
    /// one transaction.
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

        /// The PostgreSQL schema that holds the store's tables, created if missing: lower-case ASCII letters,
        /// digits and underscores, starting with a letter or an underscore, at most 48 characters. Two stores on one
        /// database are separate when their schemas differ. Default `whizbang`.
        public var schema: String = "whizbang"

        /// The most connections the pool opens: one listens for notifications, one commits appends, the rest
        /// serve reads and the checkpoint and snapshot writes. At least 2. Default 8.
        public var maximumConnections: Int = 8

        /// The most appends folded into one transaction by group commit. 1 turns group commit off. Default 1,024.
        public var maximumBatchSize: Int = 1024

        /// The most bytes of event data and metadata folded into one transaction; a larger single append still
        /// goes alone. Default 16 MiB.
        public var maximumBatchBytes: Int = 16 << 20

        /// The largest event data, event metadata or snapshot data accepted, in bytes; larger ones fail with
        /// ``EventStoreError/Code/payloadTooLarge``. At most 256 MiB. Default 1 MiB.
        public var maximumPayloadBytes: Int = 1 << 20

        /// How long to wait before connecting again when the connection that listens for other processes' appends
        /// fails. Default 1 second.
        public var listenerReconnectDelay: Duration = .seconds(1)

        /// How long to wait for a connection to open before failing. Default 10 seconds.
        public var connectTimeout: Duration = .seconds(10)

        /// Where the store (and its PostgreSQL client) logs, at debug and trace level. Default: a logger labelled
        /// `"whizbang.postgres"`.
        public var logger: Logger = Logger(label: "whizbang.postgres")

        /// Creates a configuration with the default values.
        public init() {}

        /// The channel on which the append function announces new heads.
        var notificationChannel: String { "whizbang_\(schema)" }
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
