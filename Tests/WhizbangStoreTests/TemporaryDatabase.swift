import Foundation
import Testing
import WhizbangStore

/// Runs `body` with a fresh temporary directory, removed afterwards.
func withTemporaryDirectory<Result>(_ body: (URL) async throws -> Result) async throws -> Result {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("whizbang-sqlite-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// Runs `body` with a store on a fresh temporary database, closed and removed afterwards.
func withStore<Result>(
    configuration: SQLiteEventStore.Configuration = .testing,
    _ body: (SQLiteEventStore, String) async throws -> Result
) async throws -> Result {
    try await withTemporaryDirectory { directory in
        let path = directory.appendingPathComponent("events.sqlite").path
        let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
        defer { store.close() }
        return try await body(store, path)
    }
}

extension SQLiteEventStore.Configuration {
    /// Tests run with NORMAL durability: process crashes are what they simulate, and fsync only slows them.
    static var testing: Self {
        var configuration = Self()
        configuration.durability = .normal
        configuration.pageCacheBytes = 4 << 20
        configuration.externalChangePollInterval = .milliseconds(10)
        return configuration
    }
}

/// `count` events with JSON data, labelled for legibility.
func makeEvents(_ count: Int, type: String = "Deposited") -> [EventData] {
    (0..<count).map { index in
        EventData(eventType: type, data: Data(#"{"amount":\#(index)}"#.utf8), metadata: Data(#"{"hop":1}"#.utf8))
    }
}

/// Expects `body` to throw an ``EventStoreError`` with `code`, and returns it.
@discardableResult
func expectError(
    _ code: EventStoreError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> EventStoreError? {
    do {
        try await body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as EventStoreError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
