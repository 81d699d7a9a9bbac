import Foundation
import Whizbang

extension PostgresEventStore.Configuration {
    /// A configuration from libpq's environment variables: `PGHOST`, `PGPORT`, `PGUSER` (else `USER`),
    /// `PGPASSWORD`, `PGDATABASE` and `PGSSLMODE`; a variable that is not set leaves the default.
    ///
    /// - Parameter environment: the variables; `nil` (the default) reads the process's environment.
    /// - Throws: ``EventStoreError/Code/invalidArgument`` for a port that is not a number from 1 to 65535 or an
    ///   unknown `sslmode`.
    public init(environment: [String: String]? = nil) throws {
        self.init()
        try apply(environment: environment)
    }

    /// A configuration from a URL such as `postgres://user:password@host:5432/database?sslmode=require`.
    ///
    /// The scheme is `postgres` or `postgresql`. User name and password are percent-decoded. A part the URL leaves
    /// out comes from `environment` (`nil`: the process's) as in ``init(environment:)`` (so a password can stay out of the URL, in
    /// `PGPASSWORD`), then from the defaults. The query may hold `sslmode` (libpq's values) and `schema` (the
    /// store's ``schema``); any other parameter is refused, so that a misspelt one is not silently ignored.
    ///
    /// - Throws: ``EventStoreError/Code/invalidArgument`` for text that is not such a URL; the message never
    ///   contains the password.
    public init(url: String, environment: [String: String]? = nil) throws {
        self.init()
        try apply(environment: environment)
        guard let components = URLComponents(string: url),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else {
            throw Self.invalid("expected a URL of the form postgres://user@host:port/database")
        }
        if let user = components.user, !user.isEmpty { username = user }
        if let password = components.password { self.password = password }
        if var host = components.host, !host.isEmpty {
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self.host = host.removingPercentEncoding ?? host
        }
        if let port = components.port {
            guard (1...65535).contains(port) else { throw Self.invalid("port \(port) is not from 1 to 65535") }
            self.port = port
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        if !path.isEmpty { database = path.removingPercentEncoding ?? path }
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(sslmode: value) else { throw Self.invalid("unknown sslmode '\(value)'") }
                tls = mode
            case "schema":
                schema = value
            default:
                throw Self.invalid("unknown URL parameter '\(item.name)'; known are sslmode and schema")
            }
        }
    }

    private mutating func apply(environment: [String: String]?) throws {
        let environment = environment ?? ProcessInfo.processInfo.environment
        if let host = environment["PGHOST"], !host.isEmpty { self.host = host }
        if let text = environment["PGPORT"], !text.isEmpty {
            guard let port = Int(text), (1...65535).contains(port) else {
                throw Self.invalid("PGPORT '\(text)' is not a port from 1 to 65535")
            }
            self.port = port
        }
        if let user = environment["PGUSER"] ?? environment["USER"], !user.isEmpty { username = user }
        if let password = environment["PGPASSWORD"] { self.password = password }
        if let database = environment["PGDATABASE"], !database.isEmpty { self.database = database }
        if let text = environment["PGSSLMODE"], !text.isEmpty {
            guard let mode = TLSMode(sslmode: text) else { throw Self.invalid("unknown PGSSLMODE '\(text)'") }
            tls = mode
        }
    }

    private static func invalid(_ message: String) -> EventStoreError {
        EventStoreError(.invalidArgument, message: "invalid PostgreSQL connection settings: \(message)")
    }
}
