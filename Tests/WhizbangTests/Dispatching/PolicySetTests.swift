import Testing
import Whizbang

@Suite struct PolicySetTests {
    let context = PolicyContext(messageType: "BankAccount.Command", streamID: "a", metadata: ["tenant": "blue"])

    @Test func withNoRulesEverythingTakesTheDefaults() {
        let outcome = PolicySet().decide(for: context)
        #expect(outcome.execution == .serial)
        #expect(outcome.retry == RetryPolicy())
        #expect(outcome.timeout == nil)
        #expect(outcome.decisions.map(\.rule) == ["default", "default", "default"])
        #expect(outcome.decisions.map(\.decision) == ["execution=serial", "maximumAttempts=10", "timeout=none"])
    }

    @Test func eachPartIsDecidedByTheFirstMatchingRuleThatSetsIt() {
        let policies = PolicySet(rules: [
            .metadata("tenant", equals: "red", execution: .parallel),
            .messageType("BankAccount.Command", timeout: .seconds(2)),
            .metadata("tenant", equals: "blue", execution: .parallel, retry: .noRetries, timeout: .seconds(9)),
        ])
        let outcome = policies.decide(for: context)
        #expect(outcome.execution == .parallel)
        #expect(outcome.retry == .noRetries)
        #expect(outcome.timeout == .seconds(2))
        #expect(outcome.decisions.map(\.rule) == [
            "metadata[tenant] == blue", "metadata[tenant] == blue", "messageType == BankAccount.Command",
        ])
    }

    @Test func backoffGrowsAndIsCapped() {
        var retry = RetryPolicy()
        retry.initialBackoff = .milliseconds(10)
        retry.maximumBackoff = .milliseconds(50)
        #expect(retry.backoff(beforeRetry: 1) <= .milliseconds(10))
        #expect(retry.backoff(beforeRetry: 1) >= .milliseconds(5))
        #expect(retry.backoff(beforeRetry: 2) >= .milliseconds(10))
        #expect(retry.backoff(beforeRetry: 10) <= .milliseconds(50))
        #expect(retry.backoff(beforeRetry: 10) >= .milliseconds(25))
    }
}
