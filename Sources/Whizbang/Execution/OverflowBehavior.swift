/// What an executor does with a caller that arrives while its queue of waiting callers is at its limit.
public enum OverflowBehavior: Hashable, Sendable {
    /// The caller waits its turn, in submission order, like every other queued caller.
    ///
    /// Executors run handlers on their callers' tasks, so a queued caller is a suspended task rather than a buffered
    /// message: waiting for room in the queue and waiting in the queue are the same thing, and the limit does not
    /// bound anything. Choose ``reject`` to shed load.
    case wait
    /// The caller fails at once with ``ExecutorError/Code/queueFull``.
    case reject
}
