import Foundation
import Testing
import Whizbang
import WhizbangPostgres

/// The read of some event types that a cluster job uses: only those types, in order, and the position it covered,
/// so that the reader's checkpoint moves over the others without reading them.
@Suite(
    "PostgresEventStore reads of some event types",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresTypedReadTests {
    /// Positions 1...10: `Wanted` at 2, 3, 7 and 9, `Other` at the rest.
    private static let types = [
        "Other", "Wanted", "Wanted", "Other", "Other", "Other", "Wanted", "Other", "Wanted", "Other",
    ]

    private func appendLog(to store: PostgresEventStore) async throws {
        for (index, type) in Self.types.enumerated() {
            _ = try await store.append(makeEvents(1, type: type), to: StreamID("s-\(index % 3)"), expectedVersion: .any)
        }
    }

    @Test func onlyTheTypesAreReadAndTheReadCoversTheHead() async throws {
        try await PostgresTestServer.withStore { store in
            try await appendLog(to: store)
            let all = try await store.readAll(after: 0, limit: 100, eventTypes: ["Wanted"])
            #expect(all.events.map(\.position) == [2, 3, 7, 9])
            #expect(all.events.allSatisfy { $0.eventType == "Wanted" })
            #expect(all.through == 10)

            let later = try await store.readAll(after: 7, limit: 100, eventTypes: ["Wanted", "Other"])
            #expect(later.events.map(\.position) == [8, 9, 10])
            #expect(later.through == 10)
        }
    }

    @Test func aFullPageCoversUpToItsLastEvent() async throws {
        try await PostgresTestServer.withStore { store in
            try await appendLog(to: store)
            let page = try await store.readAll(after: 0, limit: 2, eventTypes: ["Wanted"])
            #expect(page.events.map(\.position) == [2, 3])
            #expect(page.through == 3)
            let next = try await store.readAll(after: page.through, limit: 2, eventTypes: ["Wanted"])
            #expect(next.events.map(\.position) == [7, 9])
            #expect(next.through == 9)
        }
    }

    @Test func aScanLimitBoundsTheRangeRead() async throws {
        try await PostgresTestServer.withStore { store in
            try await appendLog(to: store)
            let first = try await store.readAll(after: 3, limit: 100, eventTypes: ["Wanted"], scanLimit: 2)
            #expect(first.events.isEmpty)
            #expect(first.through == 5)
            let second = try await store.readAll(after: first.through, limit: 100, eventTypes: ["Wanted"], scanLimit: 2)
            #expect(second.events.map(\.position) == [7])
            #expect(second.through == 7)
        }
    }

    @Test func atTheHeadOrWithoutTypesNothingIsRead() async throws {
        try await PostgresTestServer.withStore { store in
            let empty = try await store.readAll(after: 0, limit: 10, eventTypes: ["Wanted"])
            #expect(empty.events.isEmpty && empty.through == 0)
            try await appendLog(to: store)
            let atHead = try await store.readAll(after: 10, limit: 10, eventTypes: ["Wanted"])
            #expect(atHead.events.isEmpty && atHead.through == 10)
            let noTypes = try await store.readAll(after: 0, limit: 10, eventTypes: [])
            #expect(noTypes.events.isEmpty && noTypes.through == 10)
            await #expect(throws: EventStoreError.self) {
                _ = try await store.readAll(after: 0, limit: -1, eventTypes: ["Wanted"])
            }
        }
    }
}
