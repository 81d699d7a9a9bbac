import Foundation
import WhizbangPostgres

/// Turns what the PostgreSQL store or client throws when it cannot connect (unreachable, no more connections, starting
/// up), when the role lacks a privilege, or when the store's schema vanished under a command, into one line a person
/// understands, with exit status 2; every other error passes through unchanged.
///
/// The store's errors carry the client's error code or the server's SQLSTATE in their message, so the match is on
/// those words (and on postgres-nio's error codes, should one arrive unwrapped), not on one exact text.
enum PostgresProblem {
    /// Runs `body`, turning a failure to connect into a ``SampleError``: a refusal (exit status 2, nothing was
    /// changed) for a `body` that only reads or changes nothing unless it succeeds, or, with `changes`, a failure
    /// (exit status 1) whose message ends with `changes`, which says what the failed `body` may have left.
    static func mapping<Output>(
        _ configuration: PostgresEventStore.Configuration,
        changes: String? = nil,
        _ body: () async throws -> Output
    ) async throws -> Output {
        do {
            return try await body()
        } catch let error as SampleError {
            throw error
        } catch {
            let problem = problem(error, configuration)
            guard let changes else { throw problem ?? error }
            // Any lost or timed-out exchange (`unavailable`), whatever its words: the client cannot know how far the
            // server got.
            if let problem {
                throw SampleError("\(problem.description); \(changes)")
            }
            if let error = error as? EventStoreError, error.code == .unavailable {
                throw SampleError("\(OneLine.text(error.message)); \(changes)")
            }
            throw error
        }
    }

    /// The sample's refusal (exit status 2) for a role that may not read the store: the server's `42501`
    /// (insufficient privilege) met while reading, with the role and the privilege it lacks; `nil` for any other
    /// error.
    ///
    /// Without the privilege the role still sees the store's tables in the catalog, but cannot read them: without
    /// this, the store looked like someone else's tables, or the server's words were all the user got.
    static func missingReadPrivilege(
        _ error: any Error, _ configuration: PostgresEventStore.Configuration
    ) -> SampleError? {
        guard let denied = deniedPrivilege(error) else { return nil }
        let role = configuration.username
        let schema = configuration.schema
        // The server names the object: "permission denied for schema s", "... for table events" (or "relation" before
        // PostgreSQL 15), "... for function append_batch".
        let words = denied.split(separator: " ", maxSplits: 4).map(String.init)
        let named = words.count == 5 && words[0...2] == ["permission", "denied", "for"]
        let (kind, name) = named ? (words[3], words[4]) : ("", "")
        let lacks: String
        let grant: String
        switch kind {
        case "schema":
            lacks = "the USAGE privilege on schema \(name)"
            grant = "GRANT USAGE ON SCHEMA \(name) TO \(role)"
        case "table", "relation":
            lacks = "the SELECT privilege on the store's table \(schema).\(name)"
            grant = "GRANT SELECT ON ALL TABLES IN SCHEMA \(schema) TO \(role)"
        default:
            lacks = "a privilege that reading the store needs (\(OneLine.text(denied)))"
            grant =
                "GRANT USAGE ON SCHEMA \(schema) TO \(role); GRANT SELECT ON ALL TABLES IN SCHEMA \(schema) TO \(role)"
        }
        return .refusal(
            "role \(role) lacks \(lacks), so it cannot read the store in \(configuration) (PostgreSQL error 42501: "
                + "\(OneLine.text(denied))); nothing was changed: grant it (\(grant)), or give --database a role that "
                + "may read the store")
    }

    /// The server's words after `42501` (insufficient privilege) in the store's error, or `nil` for another error.
    private static func deniedPrivilege(_ error: any Error) -> String? {
        guard let error = error as? EventStoreError else { return nil }
        if let cause = error.underlyingError as? PostgresServerError {
            return cause.sqlState == "42501" ? cause.message : nil
        }
        let prefix = "PostgreSQL error 42501: "
        guard let range = error.message.range(of: prefix) else { return nil }
        return String(error.message[range.upperBound...])
    }

    /// The sample's line for a role that lacks a privilege the command needs (the server's `42501`), naming the
    /// role, the server's words and what to grant; `nil` for any other error. Reading commands say more, with
    /// ``missingReadPrivilege(_:_:)``.
    private static func missingPrivilege(
        _ error: any Error, _ configuration: PostgresEventStore.Configuration
    ) -> SampleError? {
        guard let denied = deniedPrivilege(error) else { return nil }
        let role = configuration.username
        let schema = configuration.schema
        // "must be owner of table t": no grant gives that (the server says 42501 for it too).
        if denied.hasPrefix("must be owner of") {
            return .refusal(
                "role \(role) is not the owner of what this changes in \(configuration) (PostgreSQL error 42501: "
                    + "\(OneLine.text(denied))): give --database the role that owns the store")
        }
        // "permission denied for database d" (a node creating the cluster's schema), "... for schema s",
        // "... for table t" ("relation" before PostgreSQL 15), "... for sequence q".
        let words = denied.split(separator: " ", maxSplits: 4).map(String.init)
        let named = words.count == 5 && words[0...2] == ["permission", "denied", "for"]
        let grant =
            switch named ? words[3] : "" {
            case "database": "GRANT CREATE ON DATABASE \(words[4]) TO \(role)"
            case "schema": "GRANT USAGE, CREATE ON SCHEMA \(words[4]) TO \(role)"
            case "sequence": "GRANT USAGE ON ALL SEQUENCES IN SCHEMA \(schema) TO \(role)"
            default: "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \(schema) TO \(role)"
            }
        return .refusal(
            "role \(role) lacks a privilege that this needs in \(configuration) (PostgreSQL error 42501: "
                + "\(OneLine.text(denied))): grant it (\(grant)), or give --database a role that has it")
    }

    /// The sample's line for a failure to connect or a missing privilege (for a read-only `configuration`, as
    /// ``missingReadPrivilege(_:_:)`` says it), or `nil` for any other error.
    ///
    /// - Parameter lostConnectionIsRefusal: whether a connection lost as the command ran is a refusal (`false` for a
    ///   command that may have written before it was lost, whose caller cannot tell otherwise).
    static func problem(
        _ error: any Error, _ configuration: PostgresEventStore.Configuration, lostConnectionIsRefusal: Bool = true
    ) -> SampleError? {
        let text: String
        if let error = error as? EventStoreError {
            text = error.message
        } else {
            // postgres-nio's errors say their code and cause only in their debug description.
            text = String(reflecting: error)
        }
        // A read-only store's configuration (what reading commands open) is told which reading privilege it lacks.
        let missing =
            configuration.isReadOnly
            ? missingReadPrivilege(error, configuration) : missingPrivilege(error, configuration)
        if let missing { return missing }
        let lowered = text.lowercased()
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        if lowered.contains("requirespassword") || lowered.contains("asks for a password")
            || lowered.contains("no password")
        {
            return .refusal("the server asks for a password: give it in the URL, PGPASSWORD or ~/.pgpass")
        }
        if lowered.contains("unsupportedauthmechanism") {
            return .refusal(
                "PostgreSQL at \(host):\(configuration.port) asks role \(configuration.username) for an authentication "
                    + "method this client does not support (such as GSSAPI, SSPI or Kerberos): have pg_hba.conf give it "
                    + "scram-sha-256, md5 or password")
        }
        if lowered.contains("28p01") || lowered.contains("password authentication failed") {
            return .refusal("the server refused the password of role \(configuration.username)")
        }
        if lowered.contains("does not accept tls") {
            return .refusal(
                "PostgreSQL at \(host):\(configuration.port) does not accept TLS connections, which "
                    + "sslmode=\(configuration.tls) asks for: give sslmode=prefer or sslmode=disable in the URL, or "
                    + "turn on ssl in the server's settings")
        }
        // The TLS library's errors name only their type: its root certificate could not be loaded, or the server's
        // certificate did not pass the checks the mode asks for.
        if lowered.contains("niosslerror") || lowered.contains("boringsslerror") {
            let certificate = configuration.rootCertificatePath.map {
                "sslrootcert=\($0) (a readable PEM file of the authority that signed the server's certificate)"
            }
            return .refusal(
                "TLS with PostgreSQL at \(host):\(configuration.port) could not be set up under sslmode="
                    + "\(configuration.tls): check \(certificate.map { "\($0) and " } ?? "")the server's certificate")
        }
        if let error = error as? EventStoreError, let server = error.underlyingError as? PostgresServerError,
            server.sqlState == "3D000"
        {
            let database = configuration.database ?? configuration.username
            return .refusal(
                "PostgreSQL at \(host):\(configuration.port) has no database \(database): create it (createdb), or "
                    + "name another in the URL")
        }
        // The server's SQLSTATE: the store's errors carry the server's error, or say its code in their words (those of
        // a connection that failed as it started).
        let said: (sqlState: String, words: String)? =
            if let server = (error as? EventStoreError)?.underlyingError as? PostgresServerError {
                (server.sqlState, "PostgreSQL error \(server.sqlState): \(OneLine.text(server.message))")
            } else if let match = text.firstMatch(of: #/PostgreSQL error ([0-9A-Z]{5}): /#) {
                (String(match.1), OneLine.text(String(text[match.range.lowerBound...])))
            } else {
                nil
            }
        if let (sqlState, words) = said {
            switch sqlState {
            // No connection was made: as "cannot reach", nothing was asked of the server.
            // The server's, the role's or the database's limit; only the server's frees up as other clients leave.
            case "53300":
                let advice =
                    lowered.contains("for role")
                    ? "its CONNECTION LIMIT (ALTER ROLE \(configuration.username) CONNECTION LIMIT n) allows no more"
                    : lowered.contains("for database")
                        ? "the database's CONNECTION LIMIT (ALTER DATABASE … CONNECTION LIMIT n) allows no more"
                        : "try again when fewer clients are connected, or raise the server's max_connections"
                return .refusal(
                    "PostgreSQL at \(host):\(configuration.port) takes no more connections from role "
                        + "\(configuration.username) (\(words)): \(advice)")
            case "57P03":
                return .refusal(
                    "PostgreSQL at \(host):\(configuration.port) is starting up or shutting down (\(words)): try again "
                        + "once it is up")
            // Tables or functions that the command found when it began, gone from under it.
            case "42P01", "42883", "3F000":
                return .refusal(
                    "role \(configuration.username) no longer finds in \(configuration) a table or function that the "
                        + "command found when it began (\(words)): the schema was dropped or renamed since, or the role "
                        + "lost USAGE on it")
            default: break
            }
        }
        // A connection lost: before a command asked anything (a refusal), or, with `changes`, as it ran.
        if lowered.hasPrefix("lost the connection to postgresql") {
            return lostConnectionIsRefusal ? .refusal(OneLine.text(text)) : nil
        }
        let unreachable = [
            "connection refused", "cannot reach", "connectionerror", "connect timeout", "connecttimeout",
            "could not connect", "unavailable", "no such host", "name or service not known", "network is unreachable",
            "host is unreachable", "timed out",
        ]
        guard unreachable.contains(where: lowered.contains) else { return nil }
        let cause =
            lowered.contains("refused")
            ? "connection refused"
            : lowered.contains("timed out") || lowered.contains("timeout")
                ? "timed out"
                : lowered.contains("unknown host") || lowered.contains("no such host")
                    || lowered.contains("not known")
                    ? "unknown host"
                    : lowered.contains("connecting failed repeatedly")
                        ? "connecting failed repeatedly" : OneLine.text(Self.cause(in: text))
        return .refusal("cannot reach PostgreSQL at \(host):\(configuration.port) (\(cause))")
    }

    /// The store's words after its own "cannot reach PostgreSQL at <server>: ", which the sample's line says once.
    private static func cause(in text: String) -> String {
        guard text.hasPrefix("cannot reach PostgreSQL at "), let colon = text.range(of: ": ") else { return text }
        return String(text[colon.upperBound...])
    }
}
