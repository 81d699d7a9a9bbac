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

    /// Before, a multiplier that is not finite, or large enough to leave `Duration`'s range, trapped on the second
    /// retry, inside the handler that was retrying a conflict.
    @Test func anyMultiplierGivesAWaitFromZeroToTheMaximum() {
        for multiplier in [Double.infinity, -.infinity, .nan, 1e30, -2, 0] {
            var retry = RetryPolicy()
            retry.backoffMultiplier = multiplier
            for attempt in [1, 2, 3, 50] {
                let wait = retry.backoff(beforeRetry: attempt)
                #expect(wait >= .zero && wait <= retry.maximumBackoff, "\(multiplier), retry \(attempt): \(wait)")
            }
        }
        var never = RetryPolicy()
        never.initialBackoff = .seconds(Int64.max)
        never.maximumBackoff = .seconds(Int64.max)
        #expect(never.backoff(beforeRetry: Int.max) > .seconds(1_000))
    }
}
