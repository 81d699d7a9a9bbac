/// An ordered list of rules that decides, for each message, where it runs, how it is retried and how long it may
/// take.
///
/// Each part of the outcome is decided by the first rule, in order, that matches the message and sets that part;
/// parts no matching rule sets take the defaults. With no rules at all, every command runs on its stream's serial
/// lane, conflicts are retried with ``RetryPolicy/init()``, and nothing times out.
public struct PolicySet: Sendable {
    /// The rules, most specific first.
    public var rules: [PolicyRule]
    /// Where messages run when no rule decides. Default: ``ExecutionMode/serial``.
    public var defaultExecution: ExecutionMode
    /// How conflicts are retried when no rule decides. Default: ``RetryPolicy/init()``.
    public var defaultRetry: RetryPolicy
    /// The time limit when no rule decides, or `nil` for none. Default: `nil`.
    public var defaultTimeout: Duration?

    /// A policy set with no rules and the documented defaults.
    public init(rules: [PolicyRule] = []) {
        self.rules = rules
        self.defaultExecution = .serial
        self.defaultRetry = RetryPolicy()
        self.defaultTimeout = nil
    }

    /// Decides for one message.
    public func decide(for context: PolicyContext) -> PolicyOutcome {
        var execution: (ExecutionMode, String)?
        var retry: (RetryPolicy, String)?
        var timeout: (Duration, String)?
        for rule in rules where rule.matches(context) {
            if execution == nil, let value = rule.execution { execution = (value, rule.name) }
            if retry == nil, let value = rule.retry { retry = (value, rule.name) }
            if timeout == nil, let value = rule.timeout { timeout = (value, rule.name) }
            if execution != nil, retry != nil, timeout != nil { break }
        }
        let finalExecution = execution?.0 ?? defaultExecution
        let finalRetry = retry?.0 ?? defaultRetry
        let finalTimeout = timeout?.0 ?? defaultTimeout
        return PolicyOutcome(
            execution: finalExecution,
            retry: finalRetry,
            timeout: finalTimeout,
            decisions: [
                PolicyDecision(rule: execution?.1 ?? "default", decision: "execution=\(finalExecution.rawValue)"),
                PolicyDecision(rule: retry?.1 ?? "default", decision: "maximumAttempts=\(finalRetry.maximumAttempts)"),
                PolicyDecision(
                    rule: timeout?.1 ?? "default",
                    decision: finalTimeout.map { "timeout=\($0)" } ?? "timeout=none"),
            ]
        )
    }
}
