import Foundation
import Testing
import Whizbang
import WhizbangStore

@testable import InventoryExample
@testable import ShoppingCartExample

/// The examples' code after the line that picks the store names no store type: it runs unchanged on the in-memory
/// store and on an SQLite file, with the same outcome.
@Suite(.timeLimit(.minutes(5)))
struct ExampleStoreSwitchTests {
    @Test func theShoppingCartRunsTheSameOnEitherStore() async throws {
        try await withTemporaryDirectory { directory in
            let inMemory = try await ShoppingCartExample.run(on: InMemoryEventStore())
            let sqlite = try await ShoppingCartExample.run(
                on: try await SQLiteEventStore.open(path: directory.appendingPathComponent("carts.sqlite").path))
            #expect(inMemory == sqlite)
            #expect(inMemory == 7)
        }
    }

    @Test func theInventoryRunsTheSameOnEitherStore() async throws {
        try await withTemporaryDirectory { directory in
            let inMemory = try await InventoryExample.run(on: InMemoryEventStore())
            let sqlite = try await InventoryExample.run(
                on: try await SQLiteEventStore.open(path: directory.appendingPathComponent("inventory.sqlite").path))
            #expect(inMemory == sqlite)
            #expect(inMemory == ["order-1": .confirmed, "order-2": .rejected])
        }
    }

    private func withTemporaryDirectory(_ body: (URL) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("example-stores-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await body(directory)
    }
}
