/// One rule of a ``PolicySet``: which messages it matches and what it decides for them.
///
/// A rule decides only what it sets; what it leaves `nil` is decided by a later rule or by the defaults.
public struct PolicyRule: Sendable {
    /// The rule's name, recorded in the envelope's hops with each decision it takes.
    public var name: String
    /// Whether the rule applies to a message.
    public var matches: @Sendable (PolicyContext) -> Bool
    /// Where matching messages run, if this rule decides it.
    public var execution: ExecutionMode?
    /// How matching commands are retried after a conflict, if this rule decides it.
    public var retry: RetryPolicy?
    /// How long a matching message may take before it is cancelled and its caller gets
    /// ``DispatchError/Code/timedOut``, if this rule decides it (a command whose events are stored after the limit
    /// reports its result instead). A limit of zero or less passes at once: every matching message is cancelled as it
    /// starts.
    public var timeout: Duration?

    /// Creates a rule.
    public init(
        _ name: String,
        execution: ExecutionMode? = nil,
        retry: RetryPolicy? = nil,
        timeout: Duration? = nil,
        matches: @escaping @Sendable (PolicyContext) -> Bool
    ) {
        self.name = name
        self.matches = matches
        self.execution = execution
        self.retry = retry
        self.timeout = timeout
    }

    /// A rule for every message whose type name is `messageType`.
    public static func messageType(
        _ messageType: String,
        execution: ExecutionMode? = nil,
        retry: RetryPolicy? = nil,
        timeout: Duration? = nil
    ) -> PolicyRule {
        PolicyRule(
            "messageType == \(messageType)", execution: execution, retry: retry, timeout: timeout,
            matches: { $0.messageType == messageType })
    }

    /// A rule for every message whose metadata has `value` under `key`.
    public static func metadata(
        _ key: String,
        equals value: String,
        execution: ExecutionMode? = nil,
        retry: RetryPolicy? = nil,
        timeout: Duration? = nil
    ) -> PolicyRule {
        PolicyRule(
            "metadata[\(key)] == \(value)", execution: execution, retry: retry, timeout: timeout,
            matches: { $0.metadata[key] == value })
    }
}
