import Foundation
import Whizbang

/// The envelope a default ledger command stores: its id, stream, time and one hop with the default policy trail.
enum EnvelopeBenchmarkFixture {
    static let ledgerEnvelope: EnvelopeMetadata = {
        let time = Date(timeIntervalSince1970: 1_796_325_626.519_541)
        return EnvelopeMetadata(
            messageID: MessageID("01a23d59-d297-71ea-8260-4e74db87197b")!, streamID: "account-203", timestamp: time,
            hops: [
                Hop(
                    serviceName: "whizbang", instanceID: "eae53578", timestamp: time.addingTimeInterval(0.000_566),
                    streamID: "account-203", executorName: "serial",
                    policyDecisions: [
                        PolicyDecision(rule: "default", decision: "execution=serial"),
                        PolicyDecision(rule: "default", decision: "maximumAttempts=10"),
                        PolicyDecision(rule: "default", decision: "timeout=none"),
                    ],
                    duration: .nanoseconds(546_985))
            ])
    }()
}
