import Logging
import PostgresNIO
import Whizbang
import _ConnectionPoolModule

extension PostgresEventStore.Configuration {
    /// Checks every setting; the message never contains the password.
    func validate() throws(EventStoreError) {
        func invalid(_ message: String) -> EventStoreError {
            EventStoreError(.invalidArgument, message: "invalid PostgreSQL event store configuration: \(message)")
        }
        guard Self.isValidSchemaName(schema) else {
            throw invalid(
                "schema '\(schema)' must be 1 to 48 lower-case ASCII letters, digits or underscores, "
                    + "not starting with a digit")
        }
        guard (1...65535).contains(port) else { throw invalid("port \(port) is not from 1 to 65535") }
        guard !host.isEmpty else { throw invalid("host is empty") }
        guard !username.isEmpty else { throw invalid("username is empty") }
        guard maximumConnections >= 2 else { throw invalid("maximumConnections must be at least 2") }
        guard maximumBatchSize >= 1 else { throw invalid("maximumBatchSize must be at least 1") }
        guard (1...PostgresEventStore.maximumAppendBytes).contains(maximumBatchBytes) else {
            throw invalid("maximumBatchBytes must be from 1 to \(PostgresEventStore.maximumAppendBytes)")
        }
        guard (0...(256 << 20)).contains(maximumPayloadBytes) else {
            throw invalid("maximumPayloadBytes must be from 0 to 256 MiB")
        }
        guard readModelBatchSize >= 1 else { throw invalid("readModelBatchSize must be at least 1") }
        guard !(holdsWriterLock && isReadOnly) else {
            throw invalid("a read-only store does not write, and cannot hold the writer lock (holdsWriterLock)")
        }
        // A longer time (`.seconds(Int64.max)` meant as "never") fits neither the clocks nor a count of nanoseconds.
        let longest = Duration.longestTimeLimit
        for (name, value) in [
            ("requestTimeout", requestTimeout), ("connectTimeout", connectTimeout),
            ("maximumRetryDelay", maximumRetryDelay), ("readModelPollInterval", readModelPollInterval),
        ] {
            guard value > .zero, value <= longest else {
                throw invalid("\(name) must be positive and at most \(longest) (100 years)")
            }
        }
        guard listenerReconnectDelay <= longest else {
            throw invalid("listenerReconnectDelay must be at most \(longest) (100 years)")
        }
        for (name, value) in [
            ("statementTimeout", statementTimeout), ("idleInTransactionTimeout", idleInTransactionTimeout),
            ("keepAliveInterval", keepAliveInterval), ("subscriptionOutageLimit", subscriptionOutageLimit),
        ] {
            if let value, value <= .zero || value > longest {
                throw invalid("\(name) must be nil, or positive and at most \(longest) (100 years)")
            }
        }
    }

    static func isValidSchemaName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...48).contains(bytes.count), !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[0]) else {
            return false
        }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }
    }

    /// The postgres-nio client configuration: every connection searches the store's schema first and reads
    /// committed data, which the append function's numbering relies on.
    var clientConfiguration: PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if host.hasPrefix("/") {
            let socket = host.hasSuffix("/") ? host : host + "/"
            configuration = PostgresClient.Configuration(
                unixSocketPath: socket + ".s.PGSQL.\(port)",
                username: username,
                password: password,
                database: database
            )
        } else {
            configuration = PostgresClient.Configuration(
                host: host,
                port: port,
                username: username,
                password: password,
                database: database,
                tls: clientTLS
            )
        }
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = connectTimeout
        configuration.options.keepAliveBehavior = keepAliveInterval.map { .init(frequency: $0) }
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    /// The settings every connection starts with: the store's schema first on the search path (and the session's
    /// temporary tables last, so that none of them hides a table of the store's), read committed (which the append
    /// function's numbering relies on), the durability, read-only transactions for a read-only store, and the
    /// timeouts. Settings sent at connection start override the server's, the database's and the role's defaults,
    /// and are what the reset after a caller's body (`RESET ALL`) returns to.
    var startupParameters: [(String, String)] {
        var parameters = [
            ("search_path", "\(schema), pg_temp"),
            ("default_transaction_isolation", "read committed"),
            ("application_name", "whizbang"),
            ("synchronous_commit", durability == .full ? "on" : "off"),
        ]
        if isReadOnly { parameters.append(("default_transaction_read_only", "on")) }
        if let statementTimeout {
            parameters.append(("statement_timeout", "\(Self.milliseconds(statementTimeout))"))
        }
        if let idleInTransactionTimeout {
            parameters.append(("idle_in_transaction_session_timeout", "\(Self.milliseconds(idleInTransactionTimeout))"))
        }
        if let keepAliveInterval, !host.hasPrefix("/") {
            // Probes as far apart as the idle time, three unanswered ones end the session: the server then frees a
            // cut-off client's locks after four intervals, not after the system's default of some eleven minutes.
            let seconds = "\(max(1, Self.milliseconds(keepAliveInterval) / 1000))"
            parameters += [
                ("tcp_keepalives_idle", seconds), ("tcp_keepalives_interval", seconds), ("tcp_keepalives_count", "3"),
            ]
        }
        return parameters
    }

    /// Whole milliseconds for a PostgreSQL timeout setting: at least 1 (0 would turn the timeout off), and at most
    /// the largest value the server takes (`Int32.max`, about 24 days), which stands for any longer one.
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.asTimeLimit.components
        return min(Int64(Int32.max), max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000))
    }

    /// The settings of a single connection, opened apart from the pool to migrate the schema: unlike a pool's
    /// lease, opening it fails at once when the server refuses it.
    ///
    /// - Parameter limit: when given, the longest wait for a lock (`lock_timeout`) and the longest statement
    ///   (`statement_timeout`, or ``statementTimeout`` when that is shorter) on the connection.
    func connectionConfiguration(boundedBy limit: Duration? = nil) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if host.hasPrefix("/") {
            let socket = host.hasSuffix("/") ? host : host + "/"
            configuration = PostgresConnection.Configuration(
                unixSocketPath: socket + ".s.PGSQL.\(port)", username: username, password: password, database: database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch clientTLSMode.mode {
            case .disable: tls = .disable
            case .prefer(let context): tls = .prefer(try NIOSSLContext(configuration: context))
            case .require(let context): tls = .require(try NIOSSLContext(configuration: context))
            }
            configuration = PostgresConnection.Configuration(
                host: host, port: port, username: username, password: password, database: database, tls: tls)
        }
        let (seconds, attoseconds) = connectTimeout.asTimeLimit.components
        configuration.options.connectTimeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        var parameters = startupParameters
        if let limit {
            let statementLimit = min(limit, statementTimeout ?? limit)
            parameters.removeAll { $0.0 == "statement_timeout" }
            parameters.append(("lock_timeout", "\(Self.milliseconds(limit))"))
            parameters.append(("statement_timeout", "\(Self.milliseconds(statementLimit))"))
        }
        configuration.options.additionalStartupParameters = parameters
        return configuration
    }

    private var clientTLS: PostgresClient.Configuration.TLS { clientTLSMode.clientTLS }

    private var clientTLSMode: TLSSettings {
        var context = TLSConfiguration.makeClientConfiguration()
        if let rootCertificatePath { context.trustRoots = .file(rootCertificatePath) }
        switch tls.base {
        case .disable:
            return TLSSettings(mode: .disable)
        case .prefer:
            context.certificateVerification = .none
            return TLSSettings(mode: .prefer(context))
        case .require:
            context.certificateVerification = rootCertificatePath == nil ? .none : .noHostnameVerification
            return TLSSettings(mode: .require(context))
        case .verifyCA:
            context.certificateVerification = .noHostnameVerification
            return TLSSettings(mode: .require(context))
        case .verifyFull:
            return TLSSettings(mode: .require(context))
        }
    }
}

/// A TLS mode with its NIOSSL settings, for both the pool and a single connection.
private struct TLSSettings {
    enum Mode {
        case disable
        case prefer(TLSConfiguration)
        case require(TLSConfiguration)
    }

    var mode: Mode

    var clientTLS: PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer(let context): .prefer(context)
        case .require(let context): .require(context)
        }
    }
}

extension EventStoreError {
    /// An error of postgres-nio as an event store error: the server's SQLSTATE and message (kept as a
    /// ``PostgresServerError``, its `underlyingError`), or the client's code.
    ///
    /// A lost connection, a server that cannot be reached, is shutting down or starting, and a missed deadline are
    /// `EventStoreError/Code/unavailable` (retryable); only the owner's close is `closed`. postgres-nio's own
    /// description is generic on purpose, and its error carries the statement's SQL and bindings: the words here come
    /// only from the server's error fields (which never hold the password or bound values) or from the error code.
    static func from(_ error: any Error, closed: Bool = false, server: String = "the server") -> EventStoreError {
        if let error = error as? EventStoreError { return error }
        if closed || error is RequestDeadlines.Stopped {
            return EventStoreError(.closed, message: "the event store was closed")
        }
        func unreachable(_ cause: String) -> EventStoreError {
            EventStoreError(.unavailable, message: "cannot reach PostgreSQL at \(server): \(cause)")
        }
        if let error = error as? RequestDeadlines.Exceeded {
            return error.hadConnection
                ? EventStoreError(.unavailable, message: "PostgreSQL at \(server) did not answer within \(error.limit)")
                : unreachable("no connection within \(error.limit)")
        }
        if let error = error as? PostgresTransactionError {
            let cause: (any Error)? = error.closureError ?? error.beginError ?? error.commitError
            if let cause { return from(cause, closed: closed, server: server) }
        }
        if error is CancellationError {
            return EventStoreError(.unavailable, message: "the request to PostgreSQL at \(server) was cancelled")
        }
        if let error = error as? ConnectionPoolError {
            switch error {
            case .poolShutdown: return EventStoreError(.closed, message: "the event store's PostgreSQL client was closed")
            case .connectionCreationCircuitBreakerTripped: return unreachable("connecting failed repeatedly")
            default: return unreachable("the connection request was cancelled")
            }
        }
        if error is ChannelError || error is IOError {
            return unreachable("the connection failed (\(error))")
        }
        guard let error = error as? PSQLError else {
            return EventStoreError(.storageFailure, message: "PostgreSQL client error: \(type(of: error))")
        }
        switch error.code {
        case .poolClosed:
            return EventStoreError(.closed, message: "the event store's PostgreSQL client was closed")
        case .connectionError:
            return unreachable(error.underlying.map { "\($0)" } ?? "the connection failed")
        case .clientClosedConnection, .serverClosedConnection, .uncleanShutdown:
            return EventStoreError(.unavailable, message: "lost the connection to PostgreSQL at \(server)")
        case .sslUnsupported:
            // A setting of the server's or of the configuration, not a passing failure: trying again cannot help.
            return EventStoreError(
                .storageFailure,
                message: "PostgreSQL at \(server) does not accept TLS connections, which the configuration requires")
        default:
            break
        }
        guard let cause = PostgresServerError(error) else {
            return EventStoreError(.storageFailure, message: "PostgreSQL client error \(error.code)")
        }
        let message = cause.description
        let state = cause.sqlState
        func failure(_ code: EventStoreError.Code, _ message: String) -> EventStoreError {
            EventStoreError(code, message: message, underlyingError: cause)
        }
        switch state {
        case PostgresSchema.replacedTablesState:
            // The fence of the store's appends: the tables are not the ones it opened, and never will be again.
            return failure(.closed, "the event store was closed: \(message)")
        case "53100": return failure(.storageFull, message)
        case "25006", "42501": return failure(.readOnly, message)
        case "XX001", "XX002": return failure(.corruptDatabase, message)
        // Shutting down, crashed, starting or recovering, too many connections, a connection exception, a
        // statement cancelled by a timeout, or a lock not granted within `lock_timeout`: the same call can succeed
        // later. So can a transaction that the server rolled back as a deadlock's victim or for a serialization
        // failure: nothing of it was written.
        case "57P01", "57P02", "57P03", "53300", "57014", "55P03", "40P01", "40001":
            return failure(.unavailable, "PostgreSQL at \(server): \(message)")
        case _ where state.hasPrefix("08"):
            return failure(.unavailable, "PostgreSQL at \(server): \(message)")
        default: return failure(.storageFailure, message)
        }
    }
}
