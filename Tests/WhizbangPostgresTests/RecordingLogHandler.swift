import Logging
import Synchronization

/// A log handler that keeps every record at or above its level, for tests that count what a store logs.
struct RecordingLogHandler: LogHandler {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    final class Records: Sendable {
        private struct Waiter {
            let id: Int
            let start: Int
            let matches: @Sendable (Record) -> Bool
            let continuation: CheckedContinuation<Record, any Error>
        }

        private struct State {
            var records: [Record] = []
            var waiters: [Waiter] = []
            var nextID = 0
        }

        private let state = Mutex(State())

        func append(_ record: Record) {
            let woken = state.withLock { state -> [Waiter] in
                state.records.append(record)
                let index = state.records.count - 1
                var woken: [Waiter] = []
                state.waiters.removeAll { waiter in
                    guard index >= waiter.start, waiter.matches(record) else { return false }
                    woken.append(waiter)
                    return true
                }
                return woken
            }
            for waiter in woken { waiter.continuation.resume(returning: record) }
        }

        var all: [Record] { state.withLock { $0.records } }

        /// The first record from index `start` on that `matches`: one already kept, or else the next one logged.
        ///
        /// - Throws: `CancellationError` if the task is cancelled first (by the suite's time limit, say).
        func first(from start: Int = 0, where matches: @escaping @Sendable (Record) -> Bool) async throws -> Record {
            let id = state.withLock { state -> Int in
                state.nextID += 1
                return state.nextID
            }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Record, any Error>) in
                    let found = state.withLock { state -> Result<Record, any Error>? in
                        if let record = state.records.dropFirst(start).first(where: matches) { return .success(record) }
                        if Task.isCancelled { return .failure(CancellationError()) }
                        state.waiters.append(Waiter(id: id, start: start, matches: matches, continuation: continuation))
                        return nil
                    }
                    if let found { continuation.resume(with: found) }
                }
            } onCancel: {
                let waiter = state.withLock { state -> Waiter? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index)
                }
                waiter?.continuation.resume(throwing: CancellationError())
            }
        }
    }

    let records: Records
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    /// A logger at `level` whose records go to `records`.
    static func logger(level: Logger.Level, records: Records) -> Logger {
        Logger(label: "whizbang.postgres.tests") { _ in RecordingLogHandler(records: records, logLevel: level) }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        records.append(
            Record(level: event.level, message: "\(event.message)", metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }
}
