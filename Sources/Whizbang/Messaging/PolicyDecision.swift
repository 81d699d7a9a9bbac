/// One decision a policy took about a message, recorded in the ``Hop`` where it was taken.
///
/// Decisions are free text so that any policy can record what it did without a shared schema: the rule names the
/// policy (`"route"`, `"retry"`, `"timeout"`), the decision says what it chose (`"serial lane account-42"`,
/// `"attempt 2 of 3"`, `"500 ms"`). They are for people and tools reading a message's history; nothing in Whizbang
/// acts on them.
///
/// Encodes as `{"rule": …, "decision": …}`.
public struct PolicyDecision: Hashable, Sendable, Codable {
    /// The name of the policy or rule that decided, such as `"route"` or `"retry"`.
    public var rule: String

    /// What the rule decided, in words, such as `"parallel executor"` or `"attempt 2 of 3"`.
    public var decision: String

    /// Records that `rule` decided `decision`.
    public init(rule: String, decision: String) {
        self.rule = rule
        self.decision = decision
    }
}
