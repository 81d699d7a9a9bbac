import Foundation
import Whizbang

/// Shared helpers for the messaging tests.
enum MessagingTestSupport {
    /// Encodes `value` with a plain `JSONEncoder` and decodes it back with a plain `JSONDecoder`.
    static func jsonRoundTrip<Value: Codable>(_ value: Value) throws -> Value {
        try JSONDecoder().decode(Value.self, from: JSONEncoder().encode(value))
    }

    /// Encodes `value` and returns the top-level JSON object, to check keys and value types.
    static func jsonObject(_ value: some Encodable) throws -> [String: Any] {
        let data = try JSONEncoder().encode(value)
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// A hop with every optional field set.
    static func fullHop(serviceName: String = "ledger", timestamp: Date = Date()) -> Hop {
        Hop(
            serviceName: serviceName,
            instanceID: "ledger-7f3a",
            timestamp: timestamp,
            streamID: "account-42",
            executorName: "serial",
            policyDecisions: [
                PolicyDecision(rule: "route", decision: "serial lane account-42"),
                PolicyDecision(rule: "retry", decision: "attempt 2 of 3"),
            ],
            duration: .nanoseconds(1_234_567),
            traceParent: TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        )
    }

    /// A command used as an envelope's message in tests.
    struct OpenAccount: Codable, Hashable, Sendable {
        var accountID: String
        var owner: String
    }

    /// An event used as an envelope's message in tests.
    struct AccountOpened: Codable, Hashable, Sendable {
        var accountID: String
        var openedAt: Int
    }

    /// A second command, for the third generation of a conversation.
    struct SendWelcomeEmail: Codable, Hashable, Sendable {
        var address: String
    }
}
