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
        private let records = Mutex<[Record]>([])

        func append(_ record: Record) {
            records.withLock { $0.append(record) }
        }

        var all: [Record] { records.withLock { $0 } }
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
