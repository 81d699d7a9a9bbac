import Logging
public import PostgresNIO

/// Waits until server sessions are blocked on a lock, which only the server's lock table shows.
///
/// A test that acts while a statement waits for a lock (it cancels the call, ends the backend, lets a deadline run
/// out) must know that the wait has begun inside the server. PostgreSQL gives no signal of it: no notification, no
/// message to the lock's holder or to the waiting session's client. A lock wait shows only as a row of `pg_locks`
/// that is not granted. So this looks at `pg_locks`, from a connection of the test's own, until enough waiters are
/// there: the one place the tests poll a server for a lock wait. Each look is a query, which paces the loop; a
/// deadline ends it.
public enum PostgresLockWaiters {
    /// A lock that server sessions wait for.
    public struct Lock: Sendable, CustomStringConvertible {
        fileprivate enum Kind: Sendable {
            case relation(String)
            case advisory(classID: Int32, key: String)
        }

        fileprivate let kind: Kind

        /// The lock on a table, named as `regclass` reads it (`"schema".events`).
        public static func table(_ name: String) -> Lock {
            Lock(kind: .relation(name))
        }

        /// The advisory lock with the two keys `classID` and `hashtext(key)`, as `pg_advisory_lock(classID,
        /// hashtext(key))` and its transaction-level and shared forms take it.
        public static func advisory(_ classID: Int32, hashOf key: String) -> Lock {
            Lock(kind: .advisory(classID: classID, key: key))
        }

        public var description: String {
            switch kind {
            case .relation(let name): "the lock on \(name)"
            case .advisory(let classID, let key): "the advisory lock (\(classID), hashtext('\(key)'))"
            }
        }
    }

    /// The deadline of ``waiting(for:atLeast:on:orUntil:within:)`` ran out first.
    public struct TimedOut: Error, CustomStringConvertible {
        public let description: String
    }

    private static let logger = Logger(label: "whizbang.tests.lock-waiters")

    /// The process ids of the server backends that wait for `lock`, once at least `count` do.
    ///
    /// - Parameters:
    ///   - connection: A connection of the test's own, which none of the waiters uses (the lock's holder, say).
    ///   - ended: Looked at before each look: once it says so, returns the waiters of the last look, however few (the
    ///     work that was to wait has ended another way, and the caller's checks say what that means).
    ///   - limit: How long to look before throwing ``TimedOut``.
    public static func waiting(
        for lock: Lock, atLeast count: Int = 1, on connection: PostgresConnection,
        orUntil ended: @Sendable () -> Bool = { false }, within limit: Duration = TestPatience.success
    ) async throws -> [Int32] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        var waiters: [Int32] = []
        while !ended() {
            let rows = try await connection.query(query(lock), logger: logger).collect()
            waiters = try rows.map { try $0.decode(Int32.self) }
            if waiters.count >= count { return waiters }
            guard clock.now < deadline else {
                throw TimedOut(description: "\(waiters.count) of \(count) sessions waited for \(lock) after \(limit)")
            }
            // No pause: the next query is the pause (see above), and a lock wait begins within milliseconds.
        }
        return waiters
    }

    private static func query(_ lock: Lock) -> PostgresQuery {
        switch lock.kind {
        case .relation(let name):
            return "SELECT pid FROM pg_locks WHERE NOT granted AND relation = \(name)::regclass"
        case .advisory(let classID, let key):
            // Two int4 keys: the first is `classid`, the second `objid` (both oid, so unsigned), `objsubid` 2.
            let first = Int64(UInt32(bitPattern: classID))
            return """
                SELECT pid FROM pg_locks
                WHERE locktype = 'advisory' AND NOT granted AND objsubid = 2 AND classid::bigint = \(first)
                    AND objid::bigint = (hashtext(\(key))::bigint & 4294967295)
                """
        }
    }
}
