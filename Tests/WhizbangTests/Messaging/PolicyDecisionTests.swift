import Foundation
import Testing
import Whizbang

@Suite struct PolicyDecisionTests {
    @Test func keepsRuleAndDecision() {
        let decision = PolicyDecision(rule: "retry", decision: "attempt 2 of 3")
        #expect(decision.rule == "retry")
        #expect(decision.decision == "attempt 2 of 3")
        #expect(decision != PolicyDecision(rule: "retry", decision: "attempt 3 of 3"))
    }

    @Test func encodesAsRuleAndDecision() throws {
        let object = try MessagingTestSupport.jsonObject(PolicyDecision(rule: "timeout", decision: "500 ms"))
        #expect(object.count == 2)
        #expect(object["rule"] as? String == "timeout")
        #expect(object["decision"] as? String == "500 ms")
    }

    @Test func roundTripsThroughJSON() throws {
        let decisions = [
            PolicyDecision(rule: "route", decision: "serial lane account-42"),
            PolicyDecision(rule: "", decision: ""),
            PolicyDecision(rule: "ünïcödé \"quoted\"", decision: "line\nbreak"),
        ]
        #expect(try MessagingTestSupport.jsonRoundTrip(decisions) == decisions)
    }
}
