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
        "postgres://u:secret-word@h:99999/d",
    ])
    func invalidURL(_ url: String) async throws {
        let error = await expectError(.invalidArgument) { _ = try Configuration(url: url, environment: [:]) }
        #expect(error?.message.contains("secret-word") == false)
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
