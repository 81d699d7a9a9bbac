// A child process for the SQLite event store's crash and disk-full tests (Tests/WhizbangStoreTests). Not a product.
//
//   WhizbangStoreCrashChild append <database> <acknowledgement file> <full|normal> [stream prefix]
//     Appends batches of 1–5 events from 8 concurrent tasks to streams named "<prefix>-<task>-<n>" (prefix "crash"
//     unless given; two children with different prefixes share one file), forever, each with the exact expected
//     version. After
//     each append returns it writes one line to the acknowledgement file with a single write(2):
//     "<stream> <first version> <count> <first position> <event id>,<event id>,...\n", then one "\n" to stdout so the
//     parent can count acknowledgements and kill it with SIGKILL at a moment of its choosing.
//   WhizbangStoreCrashChild fill <database> <file size limit in bytes>
//     Sets RLIMIT_FSIZE, ignores SIGXFSZ and appends 32 KiB events until an append fails; prints
//     "<error code> <events acknowledged>" and exits 0.
//   WhizbangStoreCrashChild open <database> <as-nobody|as-is>
//     Opens the store, as user and group 65534 when asked (for read-only tests when the tests run as root, whom file
//     permissions do not stop), appends one event, and prints "ok" or the error code.
//   WhizbangStoreCrashChild destroy <database>
//     Calls SQLiteEventStore.destroyStore(at:), which takes the store's exclusive lock, and prints "ok" or the error
//     code: a probe, from another process, of whether a store is open.

import Foundation
import WhizbangStore

#if canImport(Glibc)
import Glibc
#endif

@main
struct WhizbangStoreCrashChild {
    static func main() async {
        let arguments = CommandLine.arguments
        let destroys = arguments.count == 3 && arguments[1] == "destroy"
        guard arguments.count >= 4 || destroys else {
            FileHandle.standardError.write(
                Data("usage: append|open|read|fill <database> <argument>, or destroy <database>\n".utf8))
            exit(2)
        }
        do {
            switch arguments[1] {
            case "append":
                try await appendForever(
                    database: arguments[2], acknowledgements: arguments[3], durability: arguments[4],
                    prefix: arguments.count > 5 ? arguments[5] : "crash")
            case "open":
                await openOnce(database: arguments[2], asNobody: arguments[3] == "as-nobody")
            case "read":
                await openOnce(database: arguments[2], asNobody: arguments[3] == "as-nobody", readOnly: true)
            case "fill":
                try await fill(database: arguments[2], limit: UInt64(arguments[3]) ?? 0)
            case "destroy":
                destroy(database: arguments[2])
            default:
                exit(2)
            }
        } catch {
            FileHandle.standardError.write(Data("child failed: \(error)\n".utf8))
            exit(1)
        }
    }

    static func appendForever(database: String, acknowledgements: String, durability: String, prefix: String)
        async throws
    {
        var configuration = SQLiteEventStore.Configuration()
        configuration.durability = durability == "full" ? .full : .normal
        let store = try await SQLiteEventStore.open(path: database, configuration: configuration)
        let descriptor = open(acknowledgements, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let streams = (0..<3).map { StreamID("\(prefix)-\(task)-\($0)") }
                    var versions: [UInt64] = []
                    for stream in streams { versions.append(try await store.streamVersion(of: stream)) }
                    var generator = SystemRandomNumberGenerator()
                    while true {
                        let which = Int.random(in: 0..<streams.count, using: &generator)
                        let count = Int.random(in: 1...5, using: &generator)
                        let appendID = MessageID()
                        let events = (0..<count).map { index in
                            EventData(
                                eventType: "CrashTested",
                                data: Data(#"{"append":"\#(appendID)","index":\#(index),"count":\#(count)}"#.utf8)
                            )
                        }
                        let result = try await store.append(
                            events, to: streams[which], expectedVersion: .exact(versions[which]))
                        let ids = events.map { $0.eventID.description }.joined(separator: ",")
                        let line =
                            "\(streams[which]) \(versions[which] + 1) \(count) \(result.positions.lowerBound) \(ids)\n"
                        versions[which] = result.streamVersion
                        writeAll(descriptor, line)
                        writeAll(1, "\n")
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Opens the store at `database` once, as nobody if asked, and prints `ok` (or, with `readOnly`, the head position
    /// of a read-only open), or the error's code.
    static func openOnce(database: String, asNobody: Bool, readOnly: Bool = false) async {
        if asNobody {
            guard setgid(65534) == 0, setuid(65534) == 0 else {
                writeAll(1, "cannot drop privileges\n")
                return
            }
        }
        do {
            if readOnly {
                let store = try await SQLiteReadOnlyEventStore.open(path: database)
                defer { store.close() }
                writeAll(1, "\(try await store.headPosition())\n")
            } else {
                let store = try await SQLiteEventStore.open(path: database)
                defer { store.close() }
                let tried = EventData(eventType: "Tried", data: Data("{}".utf8))
                _ = try await store.append([tried], to: "s", expectedVersion: .any)
                writeAll(1, "ok\n")
            }
        } catch let error as EventStoreError {
            writeAll(1, "\(error.code)\n")
            writeAll(2, "\(error)\n")
        } catch {
            writeAll(1, "\(error)\n")
        }
    }

    /// Removes the store at `database` with `destroyStore(at:)`, and prints `ok` or the error's code.
    static func destroy(database: String) {
        do {
            try SQLiteEventStore.destroyStore(at: database)
            writeAll(1, "ok\n")
        } catch {
            writeAll(1, "\(error.code)\n")
            writeAll(2, "\(error)\n")
        }
    }

    static func fill(database: String, limit: UInt64) async throws {
        signal(SIGXFSZ, SIG_IGN)
        var resourceLimit = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
        guard setrlimit(Int32(RLIMIT_FSIZE.rawValue), &resourceLimit) == 0 else { throw POSIXError(.EPERM) }
        var configuration = SQLiteEventStore.Configuration()
        configuration.durability = .normal
        let store = try await SQLiteEventStore.open(path: database, configuration: configuration)
        let payload = Data(repeating: UInt8(ascii: "x"), count: 32 * 1024)
        var acknowledged = 0
        while true {
            do {
                _ = try await store.append(
                    [EventData(eventType: "Filler", data: payload)], to: "filler", expectedVersion: .any)
                acknowledged += 1
            } catch let error as EventStoreError {
                writeAll(1, "\(error.code) \(acknowledged)\n")
                writeAll(2, "\(error)\n")
                store.close()
                return
            }
        }
    }

    static func writeAll(_ descriptor: Int32, _ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
