import Foundation
import Testing
import Whizbang

@Suite struct HopTests {
    @Test func minimalHopHasNoOptionalFields() {
        let before = Date()
        let hop = Hop(serviceName: "ledger", instanceID: "host-1")
        #expect(hop.serviceName == "ledger")
        #expect(hop.instanceID == "host-1")
        #expect(abs(hop.timestamp.timeIntervalSince(before)) < 1)
        #expect(hop.streamID == nil)
        #expect(hop.executorName == nil)
        #expect(hop.policyDecisions.isEmpty)
        #expect(hop.duration == nil)
        #expect(hop.traceParent == nil)
    }

    @Test func keepsEveryField() throws {
        let hop = MessagingTestSupport.fullHop()
        #expect(hop.streamID == "account-42")
        #expect(hop.executorName == "serial")
        #expect(hop.policyDecisions.map(\.rule) == ["route", "retry"])
        #expect(hop.duration == .nanoseconds(1_234_567))
        #expect(hop.traceParent?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test func timestampIsRoundedToTheNearestMicrosecond() {
        let hop = Hop(
            serviceName: "ledger",
            instanceID: "host-1",
            timestamp: Date(timeIntervalSince1970: 1_700_000_000.123_456_8)
        )
        let microseconds = hop.timestamp.timeIntervalSince1970 * 1_000_000
        #expect(microseconds.rounded() == 1_700_000_000_123_457)
        #expect(abs(microseconds - microseconds.rounded()) < 0.5)
    }

    @Test func durationIsTruncatedToWholeNanoseconds() {
        let duration = Duration(secondsComponent: 2, attosecondsComponent: 123_456_789_999_999_999)
        let hop = Hop(serviceName: "ledger", instanceID: "host-1", duration: duration)
        #expect(hop.duration == Duration(secondsComponent: 2, attosecondsComponent: 123_456_789_000_000_000))
        #expect(Hop(serviceName: "a", instanceID: "b", duration: .nanoseconds(-7)).duration == .nanoseconds(-7))
    }

    @Test func encodesStableKeysAndUnits() throws {
        let hop = MessagingTestSupport.fullHop(timestamp: Date(timeIntervalSince1970: 1_700_000_000.25))
        let object = try MessagingTestSupport.jsonObject(hop)
        #expect(Set(object.keys) == [
            "service", "instance", "timestamp", "streamID", "executor", "decisions", "duration", "traceParent",
        ])
        #expect(object["service"] as? String == "ledger")
        #expect(object["instance"] as? String == "ledger-7f3a")
        #expect((object["timestamp"] as? NSNumber)?.int64Value == 1_700_000_000_250_000)
        #expect(object["streamID"] as? String == "account-42")
        #expect(object["executor"] as? String == "serial")
        #expect((object["duration"] as? NSNumber)?.int64Value == 1_234_567)
        #expect(object["traceParent"] as? String == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let decisions = try #require(object["decisions"] as? [[String: String]])
        #expect(decisions == [
            ["rule": "route", "decision": "serial lane account-42"],
            ["rule": "retry", "decision": "attempt 2 of 3"],
        ])
    }

    @Test func leavesOutAbsentFields() throws {
        let object = try MessagingTestSupport.jsonObject(Hop(serviceName: "ledger", instanceID: "host-1"))
        #expect(Set(object.keys) == ["service", "instance", "timestamp"])
    }

    @Test func roundTripsThroughJSON() throws {
        let full = MessagingTestSupport.fullHop()
        #expect(try MessagingTestSupport.jsonRoundTrip(full) == full)
        let minimal = Hop(serviceName: "ledger", instanceID: "host-1")
        #expect(try MessagingTestSupport.jsonRoundTrip(minimal) == minimal)
    }

    @Test(arguments: [
        Duration.zero,
        .nanoseconds(1),
        .nanoseconds(-1),
        .microseconds(250),
        .milliseconds(1_500),
        .seconds(86_400 * 365),
        Duration(secondsComponent: 3, attosecondsComponent: 999_999_999_999_999_999),
    ])
    func durationsRoundTripExactly(duration: Duration) throws {
        let hop = Hop(serviceName: "ledger", instanceID: "host-1", duration: duration)
        let decoded = try MessagingTestSupport.jsonRoundTrip(hop)
        #expect(decoded == hop)
        #expect(decoded.duration == hop.duration)
    }

    @Test func randomTimestampsRoundTripExactly() throws {
        var hops: [Hop] = []
        for _ in 0..<1_000 {
            let seconds = Double.random(in: -2_000_000_000...4_000_000_000)
            hops.append(Hop(serviceName: "s", instanceID: "i", timestamp: Date(timeIntervalSince1970: seconds)))
        }
        let decoded = try MessagingTestSupport.jsonRoundTrip(hops)
        #expect(decoded == hops)
    }

    @Test func decodingRejectsMissingFieldsAndBadTraceParents() {
        let missingService = #"{"instance":"host-1","timestamp":0}"#
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Hop.self, from: Data(missingService.utf8))
        }
        let badTrace = #"{"service":"a","instance":"b","timestamp":0,"traceParent":"00-bad"}"#
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Hop.self, from: Data(badTrace.utf8))
        }
    }

    @Test func decodesTheDocumentedForm() throws {
        let json = #"""
            {"service":"ledger","instance":"host-1","timestamp":1700000000000001,"duration":1500,
             "decisions":[{"rule":"route","decision":"parallel"}]}
            """#
        let hop = try JSONDecoder().decode(Hop.self, from: Data(json.utf8))
        #expect(hop.serviceName == "ledger")
        #expect(hop.duration == .nanoseconds(1_500))
        #expect(hop.policyDecisions == [PolicyDecision(rule: "route", decision: "parallel")])
        #expect((hop.timestamp.timeIntervalSince1970 * 1_000_000).rounded() == 1_700_000_000_000_001)
        #expect(try MessagingTestSupport.jsonRoundTrip(hop) == hop)
    }
}
