#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import Synchronization

/// Where runners publish what they are doing, by projection name, for a console or a health check in the same
/// process to read.
///
/// Give one board to every ``ProjectionRunner`` (``ProjectionRunnerConfiguration/statusBoard``) and to the reader.
/// A runner records `running` (or `rebuilding`) when it starts and `stopped` or `failed` — with the error — when it
/// ends; the entry stays after the runner ends, so a failure remains visible until the projection runs again.
///
/// The board lives in memory: it says what runners of this process did, not those of another process sharing the
/// store (a failure is not written to the store, which may be what failed).
public final class ProjectionStatusBoard: Sendable {
    private let statuses = Mutex<[String: ProjectionStatus]>([:])
    private let now: @Sendable () -> Date

    /// An empty board; `now` gives the time recorded with each status (injectable for tests).
    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    /// Records that the runner of `projection` entered `state`, with the error that made it fail.
    public func record(_ state: ProjectionStatus.State, for projection: String, error: (any Error)? = nil) {
        let status = ProjectionStatus(state: state, since: now(), error: error.map { String(describing: $0) })
        statuses.withLock { $0[projection] = status }
    }

    /// The latest status of `projection`'s runner, or `nil` if none was recorded.
    public func status(of projection: String) -> ProjectionStatus? {
        statuses.withLock { $0[projection] }
    }

    /// Every recorded status, by projection name.
    public var all: [String: ProjectionStatus] {
        statuses.withLock { $0 }
    }
}
