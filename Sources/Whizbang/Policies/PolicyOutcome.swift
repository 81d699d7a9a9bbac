/// What a ``PolicySet`` decided for one message, and which rule decided each part.
public struct PolicyOutcome: Sendable {
    /// Where the handler runs.
    public var execution: ExecutionMode
    /// How conflicts are retried.
    public var retry: RetryPolicy
    /// How long the handler may take, or `nil` for no limit.
    public var timeout: Duration?
    /// Each decision with the rule (or `"default"`) that took it, in the order execution, retry, timeout; recorded
    /// in the envelope's hop.
    public var decisions: [PolicyDecision]

    /// Creates an outcome.
    public init(execution: ExecutionMode, retry: RetryPolicy, timeout: Duration?, decisions: [PolicyDecision]) {
        self.execution = execution
        self.retry = retry
        self.timeout = timeout
        self.decisions = decisions
    }
}
