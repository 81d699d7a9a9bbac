import CWhizbangSQLite
import Foundation
import ProcessTesting
import Testing
import Whizbang
import WhizbangStore

#if canImport(Glibc)
import Glibc
#endif

@Suite("SQLiteEventStore.restore", .timeLimit(.minutes(5)))
struct SQLiteRestoreTests {
    /// A log of `streams` streams with `perStream` events each, interleaved, recorded a second apart.
    private func log(streams: Int, perStream: Int) -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        for version in 1...perStream {
            for stream in 0..<streams {
                let position = UInt64(events.count + 1)
                events.append(
                    RecordedEvent(
                        streamID: StreamID("account-\(stream)"), streamVersion: UInt64(version), position: position,
                        eventID: MessageID(), eventType: "Deposited", data: Data(#"{"amount":\#(position)}"#.utf8),
                        metadata: version == 1 ? Data() : Data([0xFF, 0x00, 0x01]),
                        recordedAt: Date(timeIntervalSince1970: Double(1_700_000_000_000_000 + Int64(position) * 1_000_003) / 1_000_000)))
            }
        }
        return events
    }

    /// The events as a store reads them back.
    private func readBack(_ path: String) async throws -> [RecordedEvent] {
        let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
        defer { store.close() }
        return try await store.readAll(after: 0, limit: 1_000_000)
    }

    @Test("keeps every field: positions, versions, ids, payloads and recording times; writes the checkpoints")
    func keepsEveryField() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("restored.sqlite").path
            let events = log(streams: 7, perStream: 30)
            let written = try await SQLiteEventStore.restore(
                events, checkpoints: ["reader": 12], to: path, configuration: .testing)
            #expect(written == events.count)
            #expect(try await readBack(path) == events)
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { store.close() }
            #expect(try await store.checkpoint(for: "reader") == 12)
            #expect(try await store.readStream(StreamID("account-3"), from: 1, direction: .forwards, limit: 100).count == 30)
            // The restored store goes on as any other: the next append takes the next version and position.
            let appended = try await store.append(
                makeEvents(1), to: StreamID("account-3"), expectedVersion: .exact(30))
            #expect(appended.positions.lowerBound == UInt64(events.count + 1))
            #expect(SQLiteEventStore.inspectFile(at: path).isWhizbangStore)
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(!names.contains { $0.contains(".restoring-") }, "\(names)")
        }
    }

    enum Bad: String, CaseIterable, CustomStringConvertible {
        case duplicateEventID, versionGap, positionGap, emptyEventType, payloadTooLarge
        var description: String { rawValue }
    }

    @Test("refuses a log that breaks an append's rules or the log's order, and leaves nothing", arguments: Bad.allCases)
    func refusesBadLogs(bad: Bad) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("restored.sqlite").path
            var events = log(streams: 3, perStream: 5)
            let last = events.count - 1
            var configuration = SQLiteEventStore.Configuration.testing
            let code: EventStoreError.Code
            switch bad {
            case .duplicateEventID:
                events[last].eventID = events[0].eventID
                code = .duplicateEventID
            case .versionGap:
                events[last].streamVersion += 1
                code = .wrongExpectedVersion
            case .positionGap:
                events[last].position += 1
                code = .invalidArgument
            case .emptyEventType:
                events[last].eventType = ""
                code = .invalidArgument
            case .payloadTooLarge:
                configuration.maximumPayloadBytes = 64
                events[last].data = Data(repeating: UInt8(ascii: "x"), count: 65)
                code = .payloadTooLarge
            }
            await expectError(code) {
                try await SQLiteEventStore.restore(events, to: path, configuration: configuration)
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(left.isEmpty, "\(left)")
        }
    }

    @Test("refuses a path where something exists, and changes nothing")
    func refusesAnExistingPath() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("taken").path
            try Data("mine\n".utf8).write(to: URL(fileURLWithPath: path))
            await expectError(.invalidArgument) {
                try await SQLiteEventStore.restore(self.log(streams: 1, perStream: 3), to: path)
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("mine\n".utf8))
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["taken"])
        }
    }

    /// The temporary name is the target's with 20 bytes more, and SQLite names files after it with up to 8 more (its
    /// journal): a target of more than 227 bytes failed with "File name too long", though a store opens under it.
    @Test("restores to a file name as long as a store's may be", arguments: [
        String(repeating: "x", count: 240) + ".sqlite",
        String(repeating: "é", count: 118) + ".sqlite",
        String(repeating: "x", count: 227),
    ])
    func restoresToALongFileName(name: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent(name).path
            let events = log(streams: 2, perStream: 3)
            let written = try await SQLiteEventStore.restore(events, to: path)
            #expect(written == 6)
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            #expect(try await store.headPosition() == 6)
            store.close()
            let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(left == [name], "\(left)")
        }
    }

    /// SQLite names a new database's journal after it with 8 bytes more, and a WAL with 4; a file name may have 255.
    /// Before, a new store under a longer name made the file and failed at its first write, leaving the file.
    @Test("a new store's file name may have 247 bytes and a store's 251; a longer one is refused, nothing made")
    func fileNamesSQLiteCanNameItsFilesAfter() async throws {
        try await withTemporaryDirectory { directory in
            let longest = directory.appendingPathComponent(String(repeating: "x", count: 244) + ".sqlite").path
            await expectError(.invalidArgument) {
                _ = try await SQLiteEventStore.open(path: longest, configuration: .testing)
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
            // A restore makes the store under a shorter name and gives it the long one in WAL mode: it opens.
            #expect(try await SQLiteEventStore.restore(self.log(streams: 1, perStream: 3), to: longest) == 3)
            let store = try await SQLiteEventStore.open(path: longest, configuration: .testing)
            #expect(try await store.headPosition() == 3)
            store.close()
            let tooLong = directory.appendingPathComponent(String(repeating: "x", count: 245) + ".sqlite").path
            await expectError(.invalidArgument) {
                try await SQLiteEventStore.restore(self.log(streams: 1, perStream: 3), to: tooLong)
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(left == [PathParts(longest).name], "\(left)")
        }
    }

    @Test("stops when progress says so, leaving nothing")
    func stopsOnRequest() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("restored.sqlite").path
            let events = log(streams: 10, perStream: 1_000)
            await #expect(throws: CancellationError.self) {
                try await SQLiteEventStore.restore(events, to: path) { written in written < 8_192 }
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(left.isEmpty, "\(left)")
        }
    }

    @Test("removeAbandonedRestores removes only what a killed restore left under that very name, not in use")
    func removesOnlyAbandonedRestores() async throws {
        try await withTemporaryDirectory { directory in
            let target = directory.appendingPathComponent("ledger.sqlite").path
            /// A store under `name`, marked (as a restore marks its file) as restored under `restoredAs`.
            func leftover(_ name: String, restoredAs: String?) async throws -> String {
                let path = directory.appendingPathComponent(name).path
                let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
                store.close()
                if let restoredAs {
                    var connection: OpaquePointer?
                    try #require(sqlite3_open_v2(path, &connection, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK)
                    defer { sqlite3_close_v2(connection) }
                    let sql = "INSERT INTO whizbang_store (key, value) VALUES ('restored_as', '\(restoredAs)')"
                    try #require(sqlite3_exec(connection, sql, nil, nil, nil) == SQLITE_OK)
                }
                return path
            }
            // What a killed restore leaves: a store marked as restored under its own temporary name.
            let abandoned = try await leftover(".ledger.sqlite.restoring-0123abcd", restoredAs: ".ledger.sqlite.restoring-0123abcd")
            // Look-alikes that are not: a text file with the name, a store with another target's name, and a store
            // whose suffix is not the restore's.
            let text = directory.appendingPathComponent(".ledger.sqlite.restoring-89abcdef")
            try Data("notes\n".utf8).write(to: text)
            _ = try await leftover(".other.sqlite.restoring-0123abcd", restoredAs: ".other.sqlite.restoring-0123abcd")
            _ = try await leftover(".ledger.sqlite.restoring-old", restoredAs: ".ledger.sqlite.restoring-old")
            // A user's copy of a store under such a name, and a copy of a leftover under another such name.
            _ = try await leftover(".ledger.sqlite.restoring-00000001", restoredAs: nil)
            _ = try await leftover(".ledger.sqlite.restoring-00000002", restoredAs: ".ledger.sqlite.restoring-0123abcd")
            // A symbolic link under such a name to a leftover elsewhere: neither the link nor its target goes.
            let elsewhere = directory.appendingPathComponent("kept", isDirectory: true)
            try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
            let linked = try await leftover("kept/.ledger.sqlite.restoring-00000003", restoredAs: ".ledger.sqlite.restoring-00000003")
            try FileManager.default.createSymbolicLink(
                atPath: directory.appendingPathComponent(".ledger.sqlite.restoring-00000003").path,
                withDestinationPath: linked)
            // A FIFO under such a name: opened to be locked, it would wait for a writer.
            try #require(mkfifo(directory.appendingPathComponent(".ledger.sqlite.restoring-00000005").path, 0o600) == 0)
            // A restore still at work holds a lock on its file, also after its connections closed.
            let working = try await leftover(".ledger.sqlite.restoring-00000004", restoredAs: ".ledger.sqlite.restoring-00000004")
            let workingDescriptor = open(working, O_RDONLY)
            defer { close(workingDescriptor) }
            try #require(flock(workingDescriptor, LOCK_EX) == 0)
            // A store in use by a writer is left alone, and so is one that a connection merely has open.
            let busy = try await leftover(".ledger.sqlite.restoring-fedcba98", restoredAs: ".ledger.sqlite.restoring-fedcba98")
            var holder: OpaquePointer?
            try #require(sqlite3_open_v2(busy, &holder, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK)
            defer { sqlite3_close_v2(holder) }
            try #require(sqlite3_exec(holder, "BEGIN IMMEDIATE", nil, nil, nil) == SQLITE_OK)
            let open = try await leftover(".ledger.sqlite.restoring-fedcba99", restoredAs: ".ledger.sqlite.restoring-fedcba99")
            let reader = try await SQLiteEventStore.open(path: open, configuration: .testing)
            defer { reader.close() }
            _ = try await reader.headPosition()

            let removed = SQLiteEventStore.removeAbandonedRestores(for: target)
            #expect(removed == [abandoned])
            let names = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
            #expect(!names.contains(".ledger.sqlite.restoring-0123abcd"))
            #expect(names.isSuperset(of: [
                ".ledger.sqlite.restoring-89abcdef", ".other.sqlite.restoring-0123abcd", ".ledger.sqlite.restoring-old",
                ".ledger.sqlite.restoring-00000001", ".ledger.sqlite.restoring-00000002",
                ".ledger.sqlite.restoring-00000003", ".ledger.sqlite.restoring-00000004",
                ".ledger.sqlite.restoring-00000005",
                ".ledger.sqlite.restoring-fedcba98", ".ledger.sqlite.restoring-fedcba99",
            ]))
            #expect(SQLiteEventStore.inspectFile(at: linked).isWhizbangStore)
            #expect(try Data(contentsOf: text) == Data("notes\n".utf8))
            sqlite3_exec(holder, "ROLLBACK", nil, nil, nil)
        }
    }

    @Test("removeAbandonedRestores never opens a leftover that is a second name of an open store")
    func leftoverLinkedToAnOpenStore() async throws {
        try await withTemporaryDirectory { directory in
            let target = directory.appendingPathComponent("ledger.sqlite").path
            _ = try await SQLiteEventStore.restore(log(streams: 2, perStream: 3), to: target, configuration: .testing)
            // What a restore killed between `link` and `unlink` leaves: the store under its temporary name too.
            let name = try #require(
                executeRawSQL("SELECT value FROM whizbang_store WHERE key = 'restored_as'", path: target).first?.first)
            let leftover = directory.appendingPathComponent(name).path
            try #require(link(target, leftover) == 0)
            let store = try await SQLiteEventStore.open(path: target, configuration: .testing)
            defer { store.close() }
            _ = try await store.headPosition()

            #expect(SQLiteEventStore.removeAbandonedRestores(for: target) == [leftover])
            // Another process is still kept out: closing a descriptor of the file here would have dropped the locks
            // this process's connections hold on it.
            let child = try await ChildProcess.crashChild(["destroy", target])
            let output = await child.readAllOutput()
            _ = try? await child.exitStatus()
            #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "invalidArgument")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == [
                "ledger.sqlite", "ledger.sqlite-shm", "ledger.sqlite-wal",
            ])
            #expect(try await store.headPosition() == 6)
        }
    }

    @Test("a finished restore leaves its mark's temporary name, and no file behind")
    func finishedRestoreIsNotALeftover() async throws {
        try await withTemporaryDirectory { directory in
            let target = directory.appendingPathComponent("ledger.sqlite").path
            _ = try await SQLiteEventStore.restore(log(streams: 3, perStream: 2), to: target, configuration: .testing)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["ledger.sqlite"])
            #expect(SQLiteEventStore.removeAbandonedRestores(for: target).isEmpty)
            #expect(SQLiteEventStore.inspectFile(at: target).isWhizbangStore)
        }
    }
}
