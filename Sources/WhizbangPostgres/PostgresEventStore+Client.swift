import Logging
import PostgresNIO
import Whizbang

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
        guard maximumBatchBytes >= 1 else { throw invalid("maximumBatchBytes must be at least 1") }
        guard (0...(256 << 20)).contains(maximumPayloadBytes) else {
            throw invalid("maximumPayloadBytes must be from 0 to 256 MiB")
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
        configuration.options.additionalStartupParameters = [
            ("search_path", schema),
            ("default_transaction_isolation", "read committed"),
            ("application_name", "whizbang"),
        ]
        return configuration
    }

    /// The settings of a single connection, opened apart from the pool to migrate the schema: unlike a pool's
    /// lease, opening it fails at once when the server refuses it.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
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
        let (seconds, attoseconds) = connectTimeout.components
        configuration.options.connectTimeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        configuration.options.additionalStartupParameters = clientConfiguration.options.additionalStartupParameters
        return configuration
    }

    private var clientTLS: PostgresClient.Configuration.TLS { clientTLSMode.clientTLS }

    private var clientTLSMode: TLSSettings {
        var context = TLSConfiguration.makeClientConfiguration()
        switch tls.base {
        case .disable:
            return TLSSettings(mode: .disable)
        case .prefer:
            context.certificateVerification = .none
            return TLSSettings(mode: .prefer(context))
        case .require:
            context.certificateVerification = .none
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
    /// An error of postgres-nio as an event store error: the server's SQLSTATE and message, or the client's code.
    ///
    /// postgres-nio's own description is generic on purpose; the words here come from the server's error fields,
    /// which never hold the password, or from the error code.
    static func from(_ error: any Error, closed: Bool = false) -> EventStoreError {
        if let error = error as? EventStoreError { return error }
        if closed { return EventStoreError(.closed, message: "the event store was closed") }
        if let error = error as? PostgresTransactionError {
            let cause: (any Error)? = error.closureError ?? error.beginError ?? error.commitError
            if let cause { return from(cause, closed: closed) }
        }
        if error is CancellationError {
            return EventStoreError(.storageFailure, message: "the PostgreSQL request was cancelled")
        }
        guard let error = error as? PSQLError else {
            return EventStoreError(.storageFailure, message: "PostgreSQL client error: \(error)")
        }
        if error.code == .poolClosed || error.code == .clientClosedConnection {
            return EventStoreError(.closed, message: "the event store's PostgreSQL client was closed")
        }
        guard let serverInfo = error.serverInfo, let state = serverInfo[.sqlState] else {
            var message = "PostgreSQL client error \(error.code)"
            if let underlying = error.underlying { message += ": \(underlying)" }
            return EventStoreError(.storageFailure, message: message)
        }
        let message = "PostgreSQL error \(state): \(serverInfo[.message] ?? "")"
        switch state {
        case "53100": return EventStoreError(.storageFull, message: message)
        case "25006", "42501": return EventStoreError(.readOnly, message: message)
        case "XX001", "XX002": return EventStoreError(.corruptDatabase, message: message)
        default: return EventStoreError(.storageFailure, message: message)
        }
    }
}
