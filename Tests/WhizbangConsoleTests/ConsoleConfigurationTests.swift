import Testing
import WhizbangConsole

/// Values that would make the console trap, spin or fail every request are refused before it starts.
@Suite("Console configuration")
struct ConsoleConfigurationTests {
    /// A value's name, and a change that makes it zero or negative.
    static let outOfRange: [(String, @Sendable (inout ConsoleConfiguration) -> Void)] = [
        ("storeTimeout", { $0.storeTimeout = .zero }),
        ("storeTimeout", { $0.storeTimeout = .seconds(-1) }),
        ("refreshInterval", { $0.refreshInterval = .zero }),
        ("refreshInterval", { $0.refreshInterval = .milliseconds(-5) }),
        ("maximumLiveDuration", { $0.maximumLiveDuration = .zero }),
        ("idleTimeout", { $0.idleTimeout = .zero }),
        ("loginBodyTimeout", { $0.loginBodyTimeout = .zero }),
        ("loginBodyTimeout", { $0.loginBodyTimeout = .seconds(-1) }),
        ("catalog.batchSize", { $0.catalog.batchSize = 0 }),
        ("catalog.batchSize", { $0.catalog.batchSize = -1 }),
        ("catalog.maximumEventsPerRefresh", { $0.catalog.maximumEventsPerRefresh = 0 }),
        ("catalog.maximumSamples", { $0.catalog.maximumSamples = -1 }),
        ("catalog.maximumSamples", { $0.catalog.maximumSamples = 0 }),
    ]

    @Test("a duration or count that is zero or negative is refused by name", arguments: outOfRange)
    func aValueOutOfRangeIsRefused(name: String, change: @Sendable (inout ConsoleConfiguration) -> Void) {
        var configuration = ConsoleConfiguration()
        change(&configuration)
        let error = #expect(throws: ConsoleError.self) { try configuration.validate() }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(name) == true, "\(error?.message ?? "")")
    }

    @Test("the defaults are valid")
    func theDefaultsAreValid() throws {
        try ConsoleConfiguration().validate()
    }
}
