/// How often a command is retried after a concurrency conflict, and how long to wait between attempts.
///
/// A conflict (``EventStoreError/Code/wrongExpectedVersion``) means another writer appended to the stream first; a
/// retry reloads the aggregate and decides again, so it is always safe. Domain errors are never retried.
///
/// Within one dispatcher, commands on one stream run one at a time and never conflict with each other; conflicts come
/// from another writer of the same stream (another process on the same SQLite file, another service instance). With the
/// defaults, the waits between the attempts of a command add up to at most about a third of a second; where two or more
/// processes write one hot stream all the time, some commands still use them all up (about one in a thousand in a test
/// of two processes that each sent half of 2,000 commands to one stream): give such streams more attempts, or one
/// writer (a `WhizbangCluster` routes every stream to one node).
public struct RetryPolicy: Hashable, Sendable {
    /// The most attempts in all, the first included; at least 1. Default: 10.
    public var maximumAttempts: Int
    /// The wait before the first retry. Default: 1 ms.
    public var initialBackoff: Duration
    /// The factor applied to the wait after each retry. Default: 2.
    public var backoffMultiplier: Double
    /// The longest wait between two attempts. Default: 100 ms.
    public var maximumBackoff: Duration

    /// A retry policy with the documented defaults.
    public init() {
        self.maximumAttempts = 10
        self.initialBackoff = .milliseconds(1)
        self.backoffMultiplier = 2
        self.maximumBackoff = .milliseconds(100)
    }

    /// No retries: a conflict reaches the caller.
    public static var noRetries: RetryPolicy {
        var policy = RetryPolicy()
        policy.maximumAttempts = 1
        return policy
    }

    /// The wait before retry number `retry` (1 for the first retry), with up to 50% random jitter so that racing
    /// writers spread out.
    ///
    /// Any values give a wait from zero to ``maximumBackoff``: a negative wait counts as zero, and a multiplier that
    /// is not a number as one that reaches the maximum at once.
    public func backoff(beforeRetry retry: Int) -> Duration {
        let maximum = max(0, maximumBackoff / .seconds(1))
        var wait = min(maximum, max(0, initialBackoff / .seconds(1)))
        var step = 1
        while step < retry, wait < maximum {
            let next = wait * backoffMultiplier
            wait = next.isNaN ? maximum : min(maximum, max(0, next))
            step += 1
        }
        return .seconds(wait * Double.random(in: 0.5...1.0))
    }
}
