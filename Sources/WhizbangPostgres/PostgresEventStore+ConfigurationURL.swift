import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Whizbang

extension PostgresEventStore.Configuration {
    /// A configuration from libpq's environment variables: `PGHOST`, `PGPORT`, `PGUSER` (else `USER`),
    /// `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT` and `PGCONNECT_TIMEOUT`; a variable that is not set
    /// leaves the default. Without a password, the first matching line of the password file (`PGPASSFILE`, else
    /// `~/.pgpass`) supplies it, as with libpq: a file that is not a regular file, or that its group or others may
    /// read or write (more than `0600`), is not read.
    ///
    /// - Parameter environment: the variables; `nil` (the default) reads the process's environment.
    /// - Throws: `EventStoreError/Code/invalidArgument` for a port that is not a number from 1 to 65535, an
    ///   unknown `sslmode` or a connect timeout that is not a positive number of seconds up to 100 years.
    public init(environment: [String: String]? = nil) throws {
        self.init()
        let environment = environment ?? ProcessInfo.processInfo.environment
        try apply(environment: environment)
        applyPasswordFile(environment: environment, path: nil)
    }

    /// A configuration from a URL such as `postgres://user:password@host:5432/database?sslmode=require`.
    ///
    /// The scheme is `postgres` or `postgresql`. Each part is percent-decoded once. A part the URL leaves out comes
    /// from `environment` (`nil`: the process's) as in ``init(environment:)`` (so a password can stay out of the URL,
    /// in `PGPASSWORD` or the password file), then from the defaults. The query may hold libpq's `sslmode`,
    /// `sslrootcert`, `connect_timeout` (seconds), `keepalives` (`0` turns keepalives off), `keepalives_idle` (seconds)
    /// and `passfile`; the server settings `statement_timeout` and `idle_in_transaction_session_timeout` (milliseconds,
    /// or a whole number with one of PostgreSQL's units `ms`, `s`, `min`, `h`, `d`); and the store's `schema` and
    /// `request_timeout` (seconds, ``requestTimeout``). Any other parameter is refused, so that a misspelt one is not
    /// silently ignored, and so is a parameter given twice (which value holds would be a guess).
    ///
    /// - Throws: `EventStoreError/Code/invalidArgument` for text that is not such a URL, a parameter given twice, a
    ///   `schema` that no store may use (1 to 48 lower-case ASCII letters, digits or underscores, not starting with a
    ///   digit), or a time longer than 100 years; the message never contains the password.
    public init(url: String, environment: [String: String]? = nil) throws {
        self.init()
        let environment = environment ?? ProcessInfo.processInfo.environment
        try apply(environment: environment)
        guard let components = URLComponents(string: url),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else {
            throw Self.invalid("expected a URL of the form postgres://user@host:port/database")
        }
        // URLComponents' `user`, `password`, `host` and `path` are decoded already: decoding them again would turn
        // a literal `%41` into `A`.
        if let user = components.user, !user.isEmpty { username = user }
        if let password = components.password { self.password = password }
        if var host = components.host, !host.isEmpty {
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self.host = host
        }
        if let port = components.port {
            guard (1...65535).contains(port) else { throw Self.invalid("port \(port) is not from 1 to 65535") }
            self.port = port
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        if !path.isEmpty { database = path }
        var passwordFile: String? = nil
        var named: Set<String> = []
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            guard named.insert(item.name).inserted else {
                throw Self.invalid("URL parameter '\(item.name)' is given twice; give each parameter once")
            }
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(sslmode: value) else { throw Self.invalid("unknown sslmode '\(value)'") }
                tls = mode
            case "sslrootcert":
                rootCertificatePath = value.isEmpty ? nil : value
            case "schema":
                // The rule that every use of the configuration checks (`validate()`), checked where the name is read.
                guard Self.isValidSchemaName(value) else {
                    throw Self.invalid(
                        "schema '\(value)' must be 1 to 48 lower-case ASCII letters, digits or underscores, not "
                            + "starting with a digit")
                }
                schema = value
            case "connect_timeout":
                connectTimeout = try Self.duration(value, unit: .seconds(1), name: item.name)
            case "request_timeout":
                requestTimeout = try Self.duration(value, unit: .seconds(1), name: item.name)
            case "keepalives":
                guard value == "0" || value == "1" else { throw Self.invalid("keepalives must be 0 or 1") }
                if value == "0" { keepAliveInterval = nil }
            case "keepalives_idle":
                keepAliveInterval = try Self.duration(value, unit: .seconds(1), name: item.name)
            case "statement_timeout":
                statementTimeout = try Self.optionalDuration(value, name: item.name)
            case "idle_in_transaction_session_timeout":
                idleInTransactionTimeout = try Self.optionalDuration(value, name: item.name)
            case "passfile":
                passwordFile = value
            default:
                throw Self.invalid(
                    "unknown URL parameter '\(item.name)'; known are sslmode, sslrootcert, schema, connect_timeout, "
                        + "request_timeout, keepalives, keepalives_idle, statement_timeout, "
                        + "idle_in_transaction_session_timeout and passfile")
            }
        }
        applyPasswordFile(environment: environment, path: passwordFile)
    }

    private mutating func apply(environment: [String: String]) throws {
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
        if let path = environment["PGSSLROOTCERT"], !path.isEmpty { rootCertificatePath = path }
        if let text = environment["PGCONNECT_TIMEOUT"], !text.isEmpty {
            connectTimeout = try Self.duration(text, unit: .seconds(1), name: "PGCONNECT_TIMEOUT")
        }
    }

    /// Takes the password from the password file when none is set: `path`, else `PGPASSFILE`, else `~/.pgpass`.
    private mutating func applyPasswordFile(environment: [String: String], path: String?) {
        guard password == nil else { return }
        let file: String
        if let path, !path.isEmpty {
            file = path
        } else if let path = environment["PGPASSFILE"], !path.isEmpty {
            file = path
        } else if let home = environment["HOME"], !home.isEmpty {
            file = home + "/.pgpass"
        } else {
            return
        }
        // As libpq: only a regular file that nobody but its owner can read (a password readable by others is not
        // one to use), and never a pipe, whose read would wait for a writer.
        var status = stat()
        guard stat(file, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFREG else {
            ignoredPasswordFile = "password file \(file) is not a plain file; it was not read"
            return
        }
        guard status.st_mode & 0o077 == 0 else {
            ignoredPasswordFile =
                "password file \(file) has group or world access; it was not read: permissions should be u=rw (0600) "
                + "or less"
            return
        }
        guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else { return }
        let database = self.database ?? username
        let host = self.host.hasPrefix("/") ? "localhost" : self.host
        password = PostgresPasswordFile(contents: contents).password(
            host: host, port: port, database: database, username: username)
    }

    /// A positive whole number of `unit`s, at most 100 years.
    private static func duration(_ text: String, unit: Duration, name: String) throws -> Duration {
        guard let count = Int(text), count > 0 else { throw invalid("\(name) '\(text)' is not a positive number") }
        return try limited(unit * count, text: text, name: name)
    }

    /// A whole number of milliseconds, or of the unit after it (`ms`, `s`, `min`, `h` or `d`), where 0 means `nil`
    /// (the server's setting off), as PostgreSQL reads these settings; at most 100 years.
    private static func optionalDuration(_ text: String, name: String) throws -> Duration? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let units: [Substring: Duration] = [
            "": .milliseconds(1), "ms": .milliseconds(1), "s": .seconds(1), "min": .seconds(60),
            "h": .seconds(3600), "d": .seconds(86400),
        ]
        guard !digits.isEmpty, let count = Int(digits), let unit = units[text.dropFirst(digits.count)] else {
            throw invalid(
                "\(name) '\(text)' is not a whole number of milliseconds, or of ms, s, min, h or d after it")
        }
        // Before the product, which could pass what a Duration holds.
        guard Double(count) <= Duration.longestTimeLimit / unit else {
            throw invalid("\(name) '\(text)' is more than 100 years")
        }
        return count == 0 ? nil : try limited(unit * count, text: text, name: name)
    }

    /// `duration`, unless it is longer than the longest time limit, which the configuration refuses.
    private static func limited(_ duration: Duration, text: String, name: String) throws -> Duration {
        guard duration <= .longestTimeLimit else { throw invalid("\(name) '\(text)' is more than 100 years") }
        return duration
    }

    private static func invalid(_ message: String) -> EventStoreError {
        EventStoreError(.invalidArgument, message: "invalid PostgreSQL connection settings: \(message)")
    }
}
