import Foundation
import Whizbang
import WhizbangStore

/// The events, streams and database files the store benchmarks use.
enum Workload {
    /// The prefilled store: 10,000 streams of 100 events each, 1,000,000 events in all.
    static let prefillStreamCount = 10_000
    static let eventsPerPrefillStream = 100
    static var prefillEventCount: Int { prefillStreamCount * eventsPerPrefillStream }

    /// The event type of every benchmark event.
    static let eventType = "Deposited"

    /// 1,024 distinct bank-ledger-like JSON payloads (~90 bytes) and metadata (~110 bytes), made once.
    private static let payloads: [(data: Data, metadata: Data)] = (0..<1024).map { index in
        let data = #"{"account":"account-\#(index % 977)","amount":\#(1000 + index * 37 % 9000),"#
            + #""currency":"EUR","reference":"payment-\#(100_000 + index)"}"#
        let metadata = #"{"correlationID":"\#(MessageID())","causationID":"\#(MessageID())","hops":1}"#
        return (Data(data.utf8), Data(metadata.utf8))
    }

    /// A new event (fresh UUIDv7 id) with the `index`-th payload.
    @inline(__always)
    static func event(_ index: Int) -> EventData {
        let payload = payloads[index & 1023]
        return EventData(eventID: MessageID(), eventType: eventType, data: payload.data, metadata: payload.metadata)
    }

    static func prefillStreamID(_ index: Int) -> StreamID {
        StreamID("account-\(String(index + 100_000).dropFirst())")
    }

    /// A store configuration with the defaults but the given durability.
    static func configuration(_ durability: SQLiteEventStore.Configuration.Durability)
        -> SQLiteEventStore.Configuration
    {
        var configuration = SQLiteEventStore.Configuration()
        configuration.durability = durability
        return configuration
    }

    // MARK: Files

    /// Where the benchmarks keep their databases: the prefilled store (kept between runs) and one directory per
    /// benchmark process (removed by its teardown).
    static let rootDirectory = URL(fileURLWithPath: NSTemporaryDirectory())
        .appendingPathComponent("whizbang-store-benchmarks")

    /// The cached prefilled store; its name changes whenever the prefill changes.
    static var prefilledFile: URL {
        rootDirectory.appendingPathComponent(
            "prefilled-v1-\(prefillStreamCount)x\(eventsPerPrefillStream)-page\(SQLiteEventStore.Configuration().pageSize).sqlite"
        )
    }

    /// A new, empty directory for one benchmark process.
    static func makeRunDirectory() throws -> URL {
        let directory = rootDirectory.appendingPathComponent("run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A copy of the prefilled store (made first if it is not cached yet) in `directory`; returns its path.
    static func copyOfPrefilledStore(in directory: URL) async throws -> String {
        if !FileManager.default.fileExists(atPath: prefilledFile.path) {
            try await makePrefilledStore()
        }
        let copy = directory.appendingPathComponent("store.sqlite")
        try FileManager.default.copyItem(at: prefilledFile, to: copy)
        return copy.path
    }

    /// Builds the prefilled store with the store's own bulk appends: 64 tasks append 10 events at a time to their
    /// streams, round after round, so that each stream's events are spread over the log in runs of 10 (as an
    /// aggregate's are), then checkpoints the WAL into the file and moves the file into place.
    private static func makePrefilledStore() async throws {
        try FileManager.default.createDirectory(at: rootDirectory, withIntermediateDirectories: true)
        let building = rootDirectory.appendingPathComponent("building-\(getpid()).sqlite")
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: building.path + suffix) }
        let started = ContinuousClock.now
        let store = try await SQLiteEventStore.open(path: building.path, configuration: configuration(.normal))
        let chunk = 10
        let taskCount = 64
        for round in 0..<(eventsPerPrefillStream / chunk) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<taskCount {
                    group.addTask {
                        for stream in stride(from: task, to: prefillStreamCount, by: taskCount) {
                            let events = (0..<chunk).map { event(stream &* 31 &+ round &* chunk &+ $0) }
                            let version = UInt64(round * chunk)
                            _ = try await store.append(
                                events,
                                to: prefillStreamID(stream),
                                expectedVersion: version == 0 ? .noStream : .exact(version)
                            )
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let head = try await store.headPosition()
        precondition(head == UInt64(prefillEventCount), "prefill ended at \(head)")
        store.close()
        do {
            let connection = try RawConnection(path: building.path, role: .writer, durability: .full)
            try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
        try? FileManager.default.removeItem(atPath: building.path + "-wal")
        try? FileManager.default.removeItem(atPath: building.path + "-shm")
        // rename(2) replaces atomically, should another process have built the same file meanwhile.
        guard rename(building.path, prefilledFile.path) == 0 else {
            throw RawSQLiteError(code: errno, message: "cannot move the prefilled store into place", sql: "")
        }
        print("prefilled \(prefillEventCount) events in \(ContinuousClock.now - started) into \(prefilledFile.path)")
    }
}
