import Foundation
import ProcessTesting
import Testing
import WhizbangStore

#if canImport(Glibc)
import Glibc
#endif

/// Crash safety and a full disk, with a child process that is killed or runs out of file size.
@Suite("SQLiteEventStore crash safety", .timeLimit(.minutes(5)))
struct SQLiteEventStoreCrashTests {
    /// An append the child acknowledged: its line in the acknowledgement file.
    struct Acknowledgement {
        var streamID: StreamID
        var firstVersion: UInt64
        var count: Int
        var firstPosition: UInt64
        var eventIDs: [MessageID]

        init?(line: Substring) {
            let fields = line.split(separator: " ")
            guard fields.count == 5, let firstVersion = UInt64(fields[1]), let count = Int(fields[2]),
                let firstPosition = UInt64(fields[3])
            else { return nil }
            self.streamID = StreamID(String(fields[0]))
            self.firstVersion = firstVersion
            self.count = count
            self.firstPosition = firstPosition
            self.eventIDs = fields[4].split(separator: ",").compactMap { MessageID(String($0)) }
        }
    }

    /// The data the child writes in each event.
    struct Payload: Decodable {
        var append: String
        var index: Int
        var count: Int
    }

    @Test func everyAcknowledgedAppendSurvivesSIGKILL() async throws {
        try await withTemporaryDirectory { directory in
            let database = directory.appendingPathComponent("crash.sqlite").path
            let acknowledgements = directory.appendingPathComponent("acknowledged.txt").path
            var generator = SystemRandomNumberGenerator()
            var totalAcknowledged = 0
            for round in 0..<24 {
                let child = try await ChildProcess.crashChild([
                    "append", database, acknowledgements, round.isMultiple(of: 2) ? "normal" : "full",
                ])
                let target = Int.random(in: 1...60, using: &generator)
                let seen = await child.readLines(target)
                await child.kill()
                if seen < target {
                    let errorOutput = await child.errorOutput()
                    Issue.record("round \(round): the child stopped early: \(errorOutput)")
                    return
                }
                totalAcknowledged += try await verify(database: database, acknowledgements: acknowledgements, round: round)
            }
            #expect(totalAcknowledged > 24)
        }
    }

    @Test func twoProcessesAppendingToOneFileInterleaveSafely() async throws {
        // Two processes commit to one file at once: BEGIN IMMEDIATE and the busy timeout serialise their
        // transactions, so neither sees SQLITE_BUSY (a child exits at its first error), the global log stays dense
        // and every acknowledged append of both is there.
        try await withTemporaryDirectory { directory in
            let database = directory.appendingPathComponent("shared.sqlite").path
            let acknowledgements = directory.appendingPathComponent("acknowledged.txt").path
            var totalAcknowledged = 0
            for round in 0..<4 {
                let durability = round.isMultiple(of: 2) ? "normal" : "full"
                var children: [ChildProcess] = []
                for prefix in ["left", "right"] {
                    children.append(
                        try await ChildProcess.crashChild(["append", database, acknowledgements, durability, prefix]))
                }
                for child in children {
                    let seen = await child.readLines(40)
                    if seen < 40 {
                        let errorOutput = await child.errorOutput()
                        Issue.record("round \(round): a child stopped early: \(errorOutput)")
                    }
                }
                for child in children { await child.kill() }
                totalAcknowledged += try await verify(
                    database: database, acknowledgements: acknowledgements, round: round)
            }
            #expect(totalAcknowledged >= 4 * 80)
        }
    }

    /// Reopens the store and checks every rule; returns how many appends have been acknowledged in all.
    private func verify(database: String, acknowledgements: String, round: Int) async throws -> Int {
        let store = try await SQLiteEventStore.open(path: database, configuration: .testing)
        defer { store.close() }
        let events = try await store.readAll(after: 0, limit: .max)
        #expect(events.map(\.position) == Array(1...UInt64(max(events.count, 1))).prefix(events.count).map { $0 },
            "round \(round): positions are dense")

        // Versions are contiguous per stream.
        var versions: [StreamID: UInt64] = [:]
        for event in events {
            let expected = (versions[event.streamID] ?? 0) + 1
            #expect(event.streamVersion == expected, "round \(round): \(event.streamID) skips to \(event.streamVersion)")
            versions[event.streamID] = event.streamVersion
        }

        // Each append is all-or-nothing: every append id has all its events, in order.
        var appends: [String: [Int]] = [:]
        var appendCounts: [String: Int] = [:]
        let decoder = JSONDecoder()
        for event in events {
            let payload = try decoder.decode(Payload.self, from: event.data)
            appends[payload.append, default: []].append(payload.index)
            appendCounts[payload.append] = payload.count
        }
        for (append, indices) in appends {
            #expect(indices == Array(0..<appendCounts[append]!), "round \(round): append \(append) is partial")
        }

        // Every acknowledged append is there, where the child was told it is.
        let text = (try? String(contentsOfFile: acknowledgements, encoding: .utf8)) ?? ""
        let completeLines = text.hasSuffix("\n") ? text[...] : text[..<(text.lastIndex(of: "\n") ?? text.startIndex)]
        let acknowledged = completeLines.split(separator: "\n").compactMap(Acknowledgement.init(line:))
        for acknowledgement in acknowledged {
            for (offset, eventID) in acknowledgement.eventIDs.enumerated() {
                let position = Int(acknowledgement.firstPosition) + offset
                guard position >= 1, position <= events.count else {
                    Issue.record("round \(round): acknowledged position \(position) is missing")
                    continue
                }
                let event = events[position - 1]
                #expect(event.eventID == eventID)
                #expect(event.streamID == acknowledgement.streamID)
                #expect(event.streamVersion == acknowledgement.firstVersion + UInt64(offset))
            }
        }
        #expect(try await store.integrityCheck() == [], "round \(round)")
        return acknowledged.count
    }

    @Test func aFullDiskFailsTheAppendAndKeepsWhatWasCommitted() async throws {
        try await withTemporaryDirectory { directory in
            let database = directory.appendingPathComponent("full.sqlite").path
            let before = makeEvents(100)
            do {
                let store = try await SQLiteEventStore.open(path: database, configuration: .testing)
                _ = try await store.append(before, to: "committed", expectedVersion: .noStream)
                store.close()
            }
            let child = try await ChildProcess.crashChild(["fill", database, "\(2 << 20)"])
            let output = await child.readAllOutput()
            let status = try await child.exitStatus()
            let errorOutput = await child.errorOutput()
            #expect(status == 0, "\(errorOutput)")
            let fields = output.split(whereSeparator: \.isWhitespace)
            #expect(fields.first == "storageFull", "the child reported \(output)")
            let filled = UInt64(fields.last.flatMap { Int($0) } ?? -1)

            let store = try await SQLiteEventStore.open(path: database, configuration: .testing)
            defer { store.close() }
            let stored = try await store.readStream("committed", from: 1, direction: .forwards, limit: 1000)
            #expect(stored.map(\.eventID) == before.map(\.eventID))
            #expect(try await store.streamVersion(of: "filler") == filled)
            #expect(try await store.headPosition() == 100 + filled)
            #expect(try await store.integrityCheck() == [])
            // The store works again once there is room.
            _ = try await store.append(makeEvents(1), to: "committed", expectedVersion: .exact(100))
        }
    }
}

/// Files and directories the process may not write. Root ignores file permissions, so when the tests run as root
/// the child process opens the store as user 65534 instead.
@Suite("SQLiteEventStore read-only", .timeLimit(.minutes(5)))
struct SQLiteEventStoreReadOnlyTests {
    /// What a child prints after opening the store at `path` (`open`, for writing) or reading it (`read`), as nobody
    /// when this process is root, so that file modes apply.
    private func openInChild(_ path: String, _ command: String = "open", asNobody: Bool = getuid() == 0)
        async throws -> String
    {
        let child = try await ChildProcess.crashChild([command, path, asNobody ? "as-nobody" : "as-is"])
        let output = await child.readAllOutput()
        _ = try? await child.exitStatus()
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Makes a store of three events at `path` and closes it, which leaves no WAL or shared-memory file beside it.
    private func makeClosedStore(_ path: String) async throws {
        let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
        _ = try await store.append(makeEvents(3), to: "s", expectedVersion: .noStream)
        store.close()
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        #expect(!FileManager.default.fileExists(atPath: path + "-shm"))
    }

    @Test func aReadOnlyFileIsRefusedAndKept() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            try await makeClosedStore(path)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
            try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
            #expect(try await openInChild(path) == "readOnly")
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            let reopened = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { reopened.close() }
            #expect(try await reopened.headPosition() == 3)
        }
    }

    /// A file the process may not write, in a directory it may: SQLite opened it for reading only without a word,
    /// the store opened, and its first read made a WAL and a shared-memory file, read-only too, beside it. Those
    /// made the owner's next open fail as read-only once the file was writable again. Now the open is refused and
    /// nothing is made.
    @Test func aReadOnlyFileInAWritableDirectoryIsRefusedWithNothingMadeBesideIt() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            try await makeClosedStore(path)
            try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path) }
            try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
            #expect(try await openInChild(path) == "readOnly")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["events.sqlite"])
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            let reopened = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { reopened.close() }
            #expect(try await reopened.headPosition() == 3)
        }
    }

    /// A cleanly closed store (no WAL or shared-memory file beside it) on a read-only mount: the read-only store
    /// reads it, where SQLite alone fails for want of a shared-memory file, and it writes nothing. (Mounting needs
    /// root on Linux, as CI runs.)
    @Test(.enabled(if: Self.canMount)) func aClosedStoreIsReadOnAReadOnlyMount() async throws {
        try await withTemporaryDirectory { directory in
            let source = directory.appendingPathComponent("source")
            let mounted = directory.appendingPathComponent("read-only")
            for folder in [source, mounted] {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
            }
            let path = source.appendingPathComponent("events.sqlite").path
            try await makeClosedStore(path)
            let bound = try await ProcessOutput.run("/bin/mount", ["--bind", source.path, mounted.path])
            try #require(bound.status == 0, "\(bound.standardError)")
            defer { _ = umount(mounted.path) }
            let readOnly = try await ProcessOutput.run("/bin/mount", ["-o", "remount,bind,ro", mounted.path])
            try #require(readOnly.status == 0, "\(readOnly.standardError)")
            let read = try await openInChild(
                mounted.appendingPathComponent("events.sqlite").path, "read", asNobody: false)
            #expect(read == "3")
            #expect(try FileManager.default.contentsOfDirectory(atPath: source.path) == ["events.sqlite"])
        }
    }

    /// Whether this process may make mounts (root on Linux).
    static var canMount: Bool {
        #if os(Linux)
        getuid() == 0
        #else
        false
        #endif
    }

    /// A closed store in a directory that only this process may not write stays refused: its owner could start
    /// writing it while it is read, and a read as immutable takes no lock.
    @Test func aClosedStoreInADirectoryOthersMayWriteIsNotReadAsImmutable() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            try await makeClosedStore(path)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: directory.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path) }
            let child = try await ChildProcess.crashChild(["read", path, getuid() == 0 ? "as-nobody" : "as-is"])
            let output = await child.remainingOutputLines()
            let errors = await child.remainingErrorLines().joined(separator: "\n")
            _ = try? await child.exitStatus()
            #expect(output == ["readOnly"])
            // Said as what it is: not "the database cannot be written", to a command that only reads.
            #expect(errors.contains("the database's directory cannot be written"), "\(errors)")
        }
    }

    /// A read by a user who may not write the database leaves its WAL and shared-memory files behind, theirs: the
    /// database's owner then got "the database cannot be written" (or "attempt to write a readonly database"), which
    /// sent them to the database file and its directory, both writable. Now the file in the way is named. (Giving
    /// files to another user needs root, so the child opens the store as user 65534, and the files are root's.)
    @Test(.enabled(if: getuid() == 0))
    func companionsAnotherUserLeftAreNamed() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            try await makeClosedStore(path)
            try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path) }
            try #require(chown(path, 65534, 65534) == 0)
            for companion in [path + "-wal", path + "-shm"] {
                try #require(FileManager.default.createFile(atPath: companion, contents: Data(), attributes: [
                    .posixPermissions: 0o644,
                ]))
            }
            let before = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            let database = try Data(contentsOf: URL(fileURLWithPath: path))
            let child = try await ChildProcess.crashChild(["open", path, "as-nobody"])
            let output = await child.remainingOutputLines()
            let errors = await child.remainingErrorLines().joined(separator: "\n")
            _ = try? await child.exitStatus()
            #expect(output == ["readOnly"])
            #expect(errors.contains("\(path)-wal") && errors.contains("belongs to user 0"), "\(errors)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == before)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == database)
        }
    }

    /// A directory given as the database: SQLite said "disk I/O error (errno 21)", as a storage failure.
    @Test func aDirectoryIsRefusedAsOne() async throws {
        try await withTemporaryDirectory { directory in
            await #expect {
                _ = try await SQLiteEventStore.open(path: directory.path, configuration: .testing)
            } throws: { error in
                let error = error as? EventStoreError
                return error?.code == .invalidArgument && error?.message.contains("is a directory") == true
            }
            for companion in ["-wal", "-shm", "-journal"] {
                #expect(!FileManager.default.fileExists(atPath: directory.path + companion))
            }
        }
    }

    @Test func aReadOnlyDirectoryIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: directory.path)
            defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path) }
            #expect(try await openInChild(directory.appendingPathComponent("events.sqlite").path) == "readOnly")
        }
    }
}
