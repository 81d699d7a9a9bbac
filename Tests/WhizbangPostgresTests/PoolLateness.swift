import Synchronization

/// How late the process ran a task that was due, over the time of a check.
///
/// The store's deadline timer is a task of the cooperative pool: on a loaded host (every suite running at once on two
/// cores) a 3 s deadline once ended its call after 9.4 s. A bound on how long a call takes therefore allows what a
/// probe beside it measured: a task that sleeps 20 ms at a time and records how late it woke. On a quiet host that is
/// milliseconds, so the bound stays tight; on a starved one it grows with the starvation, not with the store.
enum PoolLateness {
    /// Runs `body` while a probe measures how late the pool runs a due task; returns `body`'s result and the worst
    /// lateness seen.
    static func measure<Result>(_ body: () async throws -> Result) async rethrows -> (Result, lateness: Duration) {
        let worst = Worst()
        let probe = Task {
            let clock = ContinuousClock()
            while !Task.isCancelled {
                let due = clock.now + .milliseconds(20)
                do {
                    try await Task.sleep(until: due, clock: clock)
                } catch {
                    return
                }
                worst.record(clock.now - due)
            }
        }
        defer { probe.cancel() }
        let result = try await body()
        return (result, worst.value)
    }

    /// The allowance for scheduling in a bound: three times the worst lateness (the timer waking, the caller resumed,
    /// the test's task run again) and two seconds.
    static func allowance(_ lateness: Duration) -> Duration {
        .seconds(2) + lateness * 3
    }

    private final class Worst: Sendable {
        private let worst = Mutex(Duration.zero)

        var value: Duration { worst.withLock { $0 } }

        func record(_ lateness: Duration) {
            worst.withLock { $0 = max($0, lateness) }
        }
    }
}
