import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import Testing
import WhizbangPostgres

/// Connection settings from URLs and environment variables, and the password kept out of every description.
@Suite("PostgresEventStore.Configuration")
struct PostgresConfigurationTests {
    typealias Configuration = PostgresEventStore.Configuration

    @Test func fullURL() throws {
        let configuration = try Configuration(
            url: "postgres://app:s%40cret%2F1@db.example.com:6543/ledger?sslmode=verify-full&schema=bank",
            environment: [:])
        #expect(configuration.username == "app")
        #expect(configuration.password == "s@cret/1")
        #expect(configuration.host == "db.example.com")
        #expect(configuration.port == 6543)
        #expect(configuration.database == "ledger")
        #expect(configuration.tls == .verifyFull)
        #expect(configuration.schema == "bank")
    }

    @Test func urlWithoutPartsTakesEnvironmentThenDefaults() throws {
        let environment = ["PGPASSWORD": "from-env", "PGPORT": "7000", "PGUSER": "envuser", "PGSSLMODE": "require"]
        let configuration = try Configuration(url: "postgresql://db.internal/", environment: environment)
        #expect(configuration.host == "db.internal")
        #expect(configuration.username == "envuser")
        #expect(configuration.password == "from-env")
        #expect(configuration.port == 7000)
        #expect(configuration.database == nil)
        #expect(configuration.tls == .require)
        #expect(configuration.schema == "whizbang")

        let defaults = try Configuration(url: "postgres://h", environment: [:])
        #expect(defaults.port == 5432)
        #expect(defaults.username == "postgres")
        #expect(defaults.password == nil)
        #expect(defaults.tls == .prefer)
    }

    @Test func ipv6Host() throws {
        let configuration = try Configuration(url: "postgres://u@[::1]:5433/d", environment: [:])
        #expect(configuration.host == "::1")
        #expect(configuration.port == 5433)
        #expect(configuration.description.contains("@[::1]:5433/d"))
    }

    @Test func environment() throws {
        let configuration = try Configuration(environment: [
            "PGHOST": "/run/postgresql", "PGPORT": "5499", "PGUSER": "svc", "PGPASSWORD": "pw", "PGDATABASE": "events",
            "PGSSLMODE": "disable",
        ])
        #expect(configuration.host == "/run/postgresql")
        #expect(configuration.port == 5499)
        #expect(configuration.username == "svc")
        #expect(configuration.password == "pw")
        #expect(configuration.database == "events")
        #expect(configuration.tls == .disable)
        #expect(try Configuration(environment: ["USER": "me"]).username == "me")
    }

    @Test(arguments: [
        "mysql://u@h/d", "postgres://u@h/d?sslmode=sometimes", "postgres://u@h/d?schmea=x", "not a url",
        "postgres://u:secret-word@h:99999/d", "postgres://u:secret-word@h/d?schema=Mixed",
        "postgres://u@h/d?schema=", "postgres://u@h/d?schema=has-dash",
    ])
    func invalidURL(_ url: String) async throws {
        let error = await expectError(.invalidArgument) { _ = try Configuration(url: url, environment: [:]) }
        #expect(error?.message.contains("secret-word") == false)
    }

    /// Before, a parameter given twice took its last value: `?schema=a&schema=b` wrote to `b`, which a reader of
    /// the URL might take for `a`. Which schema (or TLS mode) a store uses must not be a guess.
    @Test(arguments: [
        "postgres://u@h/d?schema=ledger_a&schema=ledger_b", "postgres://u@h/d?sslmode=require&sslmode=disable",
        "postgres://u@h/d?request_timeout=5&request_timeout=5",
    ])
    func aParameterGivenTwiceIsRefused(_ url: String) async throws {
        let error = await expectError(.invalidArgument) { _ = try Configuration(url: url, environment: [:]) }
        #expect(error?.message.contains("given twice") == true, "\(error?.message ?? "")")
    }

    @Test func invalidEnvironment() async throws {
        await expectError(.invalidArgument) { _ = try Configuration(environment: ["PGPORT": "port"]) }
        await expectError(.invalidArgument) { _ = try Configuration(environment: ["PGSSLMODE": "maybe"]) }
    }

    @Test(arguments: ["", "Upper", "1starts_with_digit", "has-dash", "has space", String(repeating: "s", count: 49)])
    func invalidSchemaNameIsRefused(_ schema: String) async throws {
        var configuration = Configuration()
        configuration.schema = schema
        await expectError(.invalidArgument) { _ = try PostgresEventStore(configuration: configuration) }
    }

    @Test func otherSettingsAreChecked() async throws {
        for change in [
            { (c: inout Configuration) in c.maximumConnections = 1 }, { $0.maximumBatchSize = 0 },
            { $0.maximumPayloadBytes = -1 }, { $0.port = 0 }, { $0.maximumBatchBytes = 0 },
        ] {
            var configuration = Configuration()
            change(&configuration)
            await expectError(.invalidArgument) { _ = try PostgresEventStore(configuration: configuration) }
        }
    }

    @Test func passwordIsMaskedInDescriptions() throws {
        let configuration = try Configuration(
            url: "postgres://app:hunter2-secret@db:5432/ledger?sslmode=require", environment: [:])
        let texts = [
            configuration.description, configuration.debugDescription, String(describing: configuration),
            String(reflecting: configuration), "\(configuration)", dumped(configuration),
        ]
        for text in texts {
            #expect(!text.contains("hunter2-secret"), "\(text)")
        }
        #expect(configuration.description == "postgres://app:***@db:5432/ledger?sslmode=require&schema=whizbang")
    }

    private func dumped(_ value: some Any) -> String {
        var text = ""
        dump(value, to: &text)
        return text
    }
}

/// libpq's conventions: each URL part decoded once, the password file, root certificates and timeouts.
@Suite("PostgresEventStore.Configuration from libpq conventions")
struct PostgresConfigurationConventionTests {
    typealias Configuration = PostgresEventStore.Configuration

    @Test func eachPartIsDecodedOnce() throws {
        let configuration = try Configuration(
            url: "postgres://u%2541:p%2542@h%2541.example/d%2541", environment: [:])
        #expect(configuration.username == "u%41")
        #expect(configuration.password == "p%42")
        #expect(configuration.host == "h%41.example")
        #expect(configuration.database == "d%41")
    }

    @Test func timeoutsKeepalivesAndRootCertificateFromTheURL() throws {
        let configuration = try Configuration(
            url: "postgres://u@h/d?connect_timeout=3&request_timeout=7&statement_timeout=2500"
                + "&idle_in_transaction_session_timeout=60000&keepalives_idle=15&sslmode=verify-ca"
                + "&sslrootcert=/etc/ssl/ca.pem",
            environment: [:])
        #expect(configuration.connectTimeout == .seconds(3))
        #expect(configuration.requestTimeout == .seconds(7))
        #expect(configuration.statementTimeout == .milliseconds(2500))
        #expect(configuration.idleInTransactionTimeout == .seconds(60))
        #expect(configuration.keepAliveInterval == .seconds(15))
        #expect(configuration.rootCertificatePath == "/etc/ssl/ca.pem")
        #expect(configuration.tls == .verifyCA)

        let off = try Configuration(url: "postgres://u@h/d?keepalives=0&statement_timeout=0", environment: [:])
        #expect(off.keepAliveInterval == nil)
        #expect(off.statementTimeout == nil)

        let environment = try Configuration(
            environment: ["PGSSLROOTCERT": "/ca.pem", "PGCONNECT_TIMEOUT": "4"])
        #expect(environment.rootCertificatePath == "/ca.pem")
        #expect(environment.connectTimeout == .seconds(4))
    }

    /// PostgreSQL reads these two settings with a unit too (`10s`); the URL refused them as "not a number".
    @Test(
        "statement_timeout and idle_in_transaction_session_timeout take PostgreSQL's units of time",
        arguments: [("250", Duration.milliseconds(250)), ("250ms", .milliseconds(250)), ("10s", .seconds(10)),
                    ("2min", .seconds(120)), ("1h", .seconds(3600)), ("1d", .seconds(86400)), ("0s", nil)])
    func serverTimeoutsWithUnits(_ text: String, _ expected: Duration?) throws {
        let configuration = try Configuration(
            url: "postgres://u@h/d?statement_timeout=\(text)&idle_in_transaction_session_timeout=\(text)",
            environment: [:])
        #expect(configuration.statementTimeout == expected)
        #expect(configuration.idleInTransactionTimeout == expected)
    }

    @Test(arguments: [
        "postgres://u@h/d?connect_timeout=0", "postgres://u@h/d?request_timeout=soon",
        "postgres://u@h/d?keepalives=2", "postgres://u@h/d?statement_timeout=-1",
        "postgres://u@h/d?statement_timeout=10sec", "postgres://u@h/d?statement_timeout=1.5s",
        "postgres://u@h/d?statement_timeout=500us", "postgres://u@h/d?statement_timeout=s",
    ])
    func invalidTimeouts(_ url: String) async throws {
        await expectError(.invalidArgument) { _ = try Configuration(url: url, environment: [:]) }
    }

    /// A password file passed over was passed over in silence, where libpq warns; a store now says why it did not
    /// read it, once as it starts, and nothing about a file it read.
    @Test func anIgnoredPasswordFileIsLogged() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("pgpass")
        try "*:*:*:app:secret\n".write(to: file, atomically: true, encoding: .utf8)
        let pipe = directory.appendingPathComponent("pipe").path
        #expect(mkfifo(pipe, 0o600) == 0)
        for (path, permissions, warning) in [
            (file.path, 0o644, "has group or world access"), (pipe, 0o600, "is not a plain file"),
            (file.path, 0o600, nil),
        ] {
            try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: path)
            let records = RecordingLogHandler.Records()
            var configuration = try Configuration(
                url: "postgres://app@db.example/ledger", environment: ["PGPASSFILE": path])
            configuration.logger = RecordingLogHandler.logger(level: .info, records: records)
            let store = try PostgresEventStore(configuration: configuration)
            store.close()
            let warnings = records.all.filter { $0.level == .warning }.map(\.message)
            if let warning {
                #expect(configuration.password == nil)
                #expect(
                    warnings.count == 1 && warnings[0].contains(path) && warnings[0].contains(warning), "\(warnings)")
                // A password set afterwards needs no file: nothing to warn of.
                let given = RecordingLogHandler.Records()
                configuration.password = "given"
                configuration.logger = RecordingLogHandler.logger(level: .info, records: given)
                try PostgresEventStore(configuration: configuration).close()
                #expect(given.all.filter { $0.level == .warning }.isEmpty)
            } else {
                #expect(configuration.password == "secret")
                #expect(warnings.isEmpty, "\(warnings)")
            }
        }
    }

    @Test func passwordFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("pgpass")
        try """
            # host:port:database:user:password
            other.example:5432:*:app:not-this
            db.example:5432:ledger:app:pass\\:word
            *:*:*:app:fallback
            """.write(to: file, atomically: true, encoding: .utf8)
        // Readable by others, it is not read, as libpq ignores it; a pipe neither (its read would wait for a writer).
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        #expect(try Configuration(url: "postgres://app@db.example/ledger", environment: ["PGPASSFILE": file.path])
            .password == nil)
        let pipe = directory.appendingPathComponent("pipe").path
        #expect(mkfifo(pipe, 0o600) == 0)
        #expect(try Configuration(url: "postgres://app@db.example/ledger", environment: ["PGPASSFILE": pipe])
            .password == nil)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)

        let exact = try Configuration(
            url: "postgres://app@db.example/ledger", environment: ["PGPASSFILE": file.path])
        #expect(exact.password == "pass:word")
        let wildcard = try Configuration(
            url: "postgres://app@db.example:6000/ledger", environment: ["PGPASSFILE": file.path])
        #expect(wildcard.password == "fallback")
        // A password in the URL or the environment wins; `~/.pgpass` is the default file.
        let given = try Configuration(
            url: "postgres://app:given@db.example/ledger", environment: ["PGPASSFILE": file.path])
        #expect(given.password == "given")
        try FileManager.default.copyItem(at: file, to: directory.appendingPathComponent(".pgpass"))
        let home = try Configuration(environment: ["PGHOST": "db.example", "PGUSER": "app", "PGDATABASE": "ledger",
            "HOME": directory.path])
        #expect(home.password == "pass:word")
        let parameter = try Configuration(
            url: "postgres://app@db.example/ledger?passfile=\(file.path)", environment: [:])
        #expect(parameter.password == "pass:word")
    }
}
