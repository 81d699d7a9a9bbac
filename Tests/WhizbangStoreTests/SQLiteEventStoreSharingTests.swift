import CWhizbangSQLite
import Foundation
import Testing
import WhizbangStore

/// Two stores on one file, as two processes would have: their appends interleave and conflicts are ordinary.
@Suite("SQLiteEventStore sharing a file", .timeLimit(.minutes(5)))
struct SQLiteEventStoreSharingTests {
    @Test func twoStoresRacingOnOneStreamGetEachVersionOnce() async throws {
        try await withStore { first, path in
            let second = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { second.close() }
            let stores = [first, second]
            let conflicts = try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<20 {
                    group.addTask {
                        let store = stores[task % 2]
                        var appended = 0
                        var conflicts = 0
                        while appended < 5 {
                            let version = try await store.streamVersion(of: "shared")
                            do {
                                _ = try await store.append(makeEvents(1), to: "shared", expectedVersion: .exact(version))
                                appended += 1
                            } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
                                conflicts += 1
                            }
                        }
                        return conflicts
                    }
                }
                return try await group.reduce(0, +)
            }
            let events = try await second.readStream("shared", from: 1, direction: .forwards, limit: 1000)
            #expect(events.map(\.streamVersion) == Array(1...100))
            #expect(events.map(\.position) == Array(1...100))
            #expect(Set(events.map(\.eventID)).count == 100)
            #expect(try await first.integrityCheck() == [])
            _ = conflicts
        }
    }

    /// SQLite writes a new file's first page when it turns WAL mode on, through a rollback journal: a store that
    /// opened the file at that moment took that journal for a stray one and refused the file, telling the user to
    /// move away a file the other store was using (about half the opens failed).
    @Test("stores opening one new file at once all open it")
    func storesCreatingOneFileAtOnceAllOpenIt() async throws {
        try await withTemporaryDirectory { directory in
            for round in 0..<20 {
                let path = directory.appendingPathComponent("new-\(round).sqlite").path
                let failures = await withTaskGroup(of: String?.self) { group in
                    for _ in 0..<3 {
                        group.addTask {
                            do {
                                let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
                                _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .any)
                                store.close()
                                return nil
                            } catch {
                                return "\(error)"
                            }
                        }
                    }
                    return await group.reduce(into: [String]()) { if let failure = $1 { $0.append(failure) } }
                }
                #expect(failures.isEmpty, "round \(round): \(failures)")
                let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
                #expect(try await store.streamVersion(of: "s") == 3)
                store.close()
            }
        }
    }

    @Test func waitForEventsNoticesAnotherStoresAppends() async throws {
        try await withStore { first, path in
            let second = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { second.close() }
            let waiter = Task { try await second.waitForEvents(after: 0) }
            _ = try await first.append(makeEvents(1), to: "s", expectedVersion: .noStream)
            try await waiter.value
            #expect(try await second.readAll(after: 0, limit: 10).count == 1)
        }
    }

    /// Before, SQLite's `SQLITE_BUSY` was reported as `storageFailure`, which tells a caller not to retry.
    @Test("an append kept past busyTimeout by another connection's write lock is unavailable, and a retry works")
    func appendKeptPastTheBusyTimeoutIsUnavailable() async throws {
        var configuration = SQLiteEventStore.Configuration.testing
        configuration.busyTimeout = .milliseconds(20)
        try await withStore(configuration: configuration) { store, path in
            var holder: OpaquePointer?
            try #require(sqlite3_open_v2(path, &holder, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK)
            defer { sqlite3_close_v2(holder) }
            sqlite3_busy_timeout(holder, 10_000)
            try #require(sqlite3_exec(holder, "BEGIN IMMEDIATE", nil, nil, nil) == SQLITE_OK)
            let events = makeEvents(2)
            let error = await expectError(.unavailable) {
                _ = try await store.append(events, to: "s", expectedVersion: .noStream)
            }
            #expect(error?.message.contains("busy timeout") == true, "\(String(describing: error))")

            try #require(sqlite3_exec(holder, "ROLLBACK", nil, nil, nil) == SQLITE_OK)
            let retried = try await store.append(events, to: "s", expectedVersion: .noStream)
            #expect(retried.positions == 1..<3)
        }
    }
}
