import Foundation
import Testing
import WhizbangStore

@Suite("SQLiteEventStore", .timeLimit(.minutes(5)))
struct SQLiteEventStoreTests {
    @Test func appendsAndReadsBack() async throws {
        try await withStore { store, _ in
            let events = makeEvents(3)
            let result = try await store.append(events, to: "account-1", expectedVersion: .noStream)
            #expect(result == AppendResult(streamID: "account-1", streamVersion: 3, positions: 1..<4))
            let other = try await store.append(makeEvents(2), to: "account-2", expectedVersion: .any)
            #expect(other.positions == 4..<6)

            let read = try await store.readStream("account-1", from: 1, direction: .forwards, limit: 10)
            #expect(read.map(\.eventID) == events.map(\.eventID))
            #expect(read.map(\.streamVersion) == [1, 2, 3])
            #expect(read.map(\.position) == [1, 2, 3])
            #expect(read.map(\.data) == events.map(\.data))
            #expect(read.map(\.metadata) == events.map(\.metadata))
            #expect(read.allSatisfy { abs($0.recordedAt.timeIntervalSinceNow) < 60 })

            let backwards = try await store.readStream("account-1", from: .max, direction: .backwards, limit: 2)
            #expect(backwards.map(\.streamVersion) == [3, 2])

            let all = try await store.readAll(after: 2, limit: 100)
            #expect(all.map(\.position) == [3, 4, 5])
            #expect(all.map(\.streamID) == ["account-1", "account-2", "account-2"])
            #expect(try await store.headPosition() == 5)
            #expect(try await store.streamVersion(of: "account-2") == 2)
            #expect(try await store.streamVersion(of: "nobody") == 0)
        }
    }

    @Test func readsTheLogWithoutMetadata() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            let long = Data(repeating: 0x7B, count: 600)
            _ = try await store.append(makeEvents(3), to: "account-1", expectedVersion: .noStream)
            _ = try await store.append(
                [EventData(eventType: "Opened", data: Data("{}".utf8), metadata: long)], to: "account-2",
                expectedVersion: .noStream)
            _ = try await store.append(makeEvents(2), to: "account-1", expectedVersion: .any)
            let readOnly = try await SQLiteReadOnlyEventStore.open(path: path)
            defer {
                readOnly.close()
                store.close()
            }
            for after: UInt64 in [0, 2] {
                let full = try await store.readAll(after: after, limit: 4)
                #expect(full.allSatisfy { !$0.metadata.isEmpty })
                var expected = full
                for index in expected.indices { expected[index].metadata = Data() }
                #expect(try await store.readAll(after: after, limit: 4, includingMetadata: false) == expected)
                #expect(try await store.readAll(after: after, limit: 4, includingMetadata: true) == full)
                #expect(try await readOnly.readAll(after: after, limit: 4, includingMetadata: false) == expected)
                #expect(try await readOnly.readAll(after: after, limit: 4, includingMetadata: true) == full)
            }
            #expect(try await store.readAll(after: 6, limit: 4, includingMetadata: false).isEmpty)
            await expectError(.invalidArgument) { _ = try await store.readAll(after: 0, limit: -1, includingMetadata: false) }
        }
    }

    @Test func persistsAcrossReopen() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let events = makeEvents(2)
            do {
                let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
                _ = try await store.append(events, to: "s", expectedVersion: .noStream)
                try await store.saveCheckpoint(2, for: "projection")
                try await store.saveSnapshot(
                    Snapshot(streamID: "s", streamVersion: 2, stateType: "Account", data: Data("{}".utf8)))
                store.close()
            }
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { store.close() }
            #expect(try await store.headPosition() == 2)
            #expect(try await store.checkpoint(for: "projection") == 2)
            #expect(try await store.latestSnapshot(for: "s")?.streamVersion == 2)
            // Idempotency is decided from the table, so it survives the restart.
            let retry = try await store.append(events, to: "s", expectedVersion: .noStream)
            #expect(retry.positions == 1..<3)
            #expect(try await store.headPosition() == 2)
        }
    }

    @Test func idempotentRetriesAndConflicts() async throws {
        try await withStore { store, _ in
            let events = makeEvents(3)
            let original = try await store.append(events, to: "s", expectedVersion: .noStream)
            #expect(try await store.append(events, to: "s", expectedVersion: .noStream) == original)
            let prefix = try await store.append(Array(events.prefix(2)), to: "s", expectedVersion: .exact(0))
            #expect(prefix == AppendResult(streamID: "s", streamVersion: 2, positions: 1..<3))
            let error = await expectError(.wrongExpectedVersion) {
                _ = try await store.append(events.reversed(), to: "s", expectedVersion: .noStream)
            }
            #expect(error?.streamID == "s")
            #expect(error?.expectedVersion == .noStream)
            #expect(error?.actualVersion == 3)
            await expectError(.wrongExpectedVersion) {
                _ = try await store.append(events + makeEvents(1), to: "s", expectedVersion: .noStream)
            }
            await expectError(.duplicateEventID) {
                _ = try await store.append([events[0]], to: "other", expectedVersion: .any)
            }
            await expectError(.duplicateEventID) {
                _ = try await store.append(makeEvents(1) + [events[1]], to: "s", expectedVersion: .exact(3))
            }
            #expect(try await store.headPosition() == 3)
            // A failed append leaves no gap: the next one takes the next position.
            let next = try await store.append(makeEvents(1), to: "s", expectedVersion: .exact(3))
            #expect(next.positions == 4..<5)
        }
    }

    @Test func oneConflictInAGroupCommitFailsOnlyItsOwnAppend() async throws {
        try await withStore { store, _ in
            // 50 tasks race to append at version 0 of one stream, and 50 others append to streams of their own; all
            // are likely to share transactions.
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for index in 0..<100 {
                    group.addTask {
                        let stream = StreamID(index.isMultiple(of: 2) ? "contended" : "own-\(index)")
                        do {
                            _ = try await store.append(makeEvents(2), to: stream, expectedVersion: .noStream)
                            return true
                        } catch {
                            return false
                        }
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 51)
            let all = try await store.readAll(after: 0, limit: 1000)
            #expect(all.map(\.position) == Array(1...102))
            #expect(try await store.streamVersion(of: "contended") == 2)
        }
    }

    @Test func emptyAppends() async throws {
        try await withStore { store, _ in
            _ = try await store.append(makeEvents(2), to: "a", expectedVersion: .any)
            let empty = try await store.append([], to: "b", expectedVersion: .noStream)
            #expect(empty == AppendResult(streamID: "b", streamVersion: 0, positions: 3..<3))
            #expect(try await store.append([], to: "a", expectedVersion: .any).streamVersion == 2)
            await expectError(.wrongExpectedVersion) {
                _ = try await store.append([], to: "a", expectedVersion: .noStream)
            }
            #expect(try await store.headPosition() == 2)
        }
    }

    @Test func payloadsThatAreNotUTF8RoundTripAsBlobs() async throws {
        try await withStore { store, _ in
            let binary = Data([0xFF, 0x00, 0xC3, 0x28, 0x80])
            let text = Data("{\"name\":\"Zoë 🎉\"}".utf8)
            let events = [
                EventData(eventType: "Binary", data: binary, metadata: binary),
                EventData(eventType: "Text", data: text),
                EventData(eventType: "Empty", data: Data()),
            ]
            _ = try await store.append(events, to: "bytes", expectedVersion: .noStream)
            let read = try await store.readAll(after: 0, limit: 10)
            #expect(read.map(\.data) == [binary, text, Data()])
            #expect(read.map(\.metadata) == [binary, Data(), Data()])
            #expect(read.map(\.eventType) == ["Binary", "Text", "Empty"])
        }
    }

    @Test func snapshotsKeepTheHighestVersion() async throws {
        try await withStore { store, _ in
            #expect(try await store.latestSnapshot(for: "s") == nil)
            let five = Snapshot(streamID: "s", streamVersion: 5, stateType: "Account", data: Data("5".utf8))
            try await store.saveSnapshot(five)
            try await store.saveSnapshot(
                Snapshot(streamID: "s", streamVersion: 3, stateType: "Account", data: Data("3".utf8)))
            #expect(try await store.latestSnapshot(for: "s") == five)
            let seven = Snapshot(streamID: "s", streamVersion: 7, stateType: "Account", data: Data("7".utf8))
            try await store.saveSnapshot(seven)
            #expect(try await store.latestSnapshot(for: "s") == seven)
            #expect(try await store.checkpoint(for: "p") == nil)
            try await store.saveCheckpoint(10, for: "p")
            try await store.saveCheckpoint(4, for: "p")
            #expect(try await store.checkpoint(for: "p") == 4)
        }
    }

    @Test func subscriptionFollowsNewCommits() async throws {
        try await withStore { store, _ in
            _ = try await store.append(makeEvents(3), to: "s", expectedVersion: .noStream)
            let task = Task {
                var positions: [UInt64] = []
                for try await event in store.subscribe(after: 1, batchSize: 2) {
                    positions.append(event.position)
                    if positions.count == 6 { break }
                }
                return positions
            }
            try await store.waitForEvents(after: 2)
            _ = try await store.append(makeEvents(4), to: "s", expectedVersion: .exact(3))
            #expect(try await task.value == [2, 3, 4, 5, 6, 7])
        }
    }

    @Test func closeFailsLaterCallsAndWaiters() async throws {
        try await withStore { store, _ in
            let waiter = Task { try await store.waitForEvents(after: 0) }
            store.close()
            await expectError(.closed) { try await waiter.value }
            await expectError(.closed) { _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .any) }
            await expectError(.closed) { _ = try await store.headPosition() }
        }
    }

    @Test func databaseFileIsPrivate() async throws {
        try await withStore { store, path in
            _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .any)
            for file in [path, path + "-wal", path + "-shm"] {
                let attributes = try FileManager.default.attributesOfItem(atPath: file)
                let permissions = (attributes[.posixPermissions] as? NSNumber)?.intValue
                #expect(permissions == 0o600, "\(file) has mode \(String(permissions ?? 0, radix: 8))")
            }
        }
    }

    @Test func integrityCheckPasses() async throws {
        try await withStore { store, _ in
            _ = try await store.append(makeEvents(10), to: "s", expectedVersion: .any)
            #expect(try await store.integrityCheck() == [])
        }
    }
}
