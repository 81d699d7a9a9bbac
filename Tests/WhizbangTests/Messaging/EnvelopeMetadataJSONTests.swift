import Foundation
import Testing
@testable import Whizbang

/// `EnvelopeMetadata.sortedKeysJSON()` writes exactly what `JSONEncoder` with `.sortedKeys` writes, and
/// `JSONDecoder` reads it back to an equal value.
@Suite struct EnvelopeMetadataJSONTests {
    static let sortedEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    /// Checks one value: identical bytes, and a round trip through `JSONDecoder` to the same value.
    func check(_ metadata: EnvelopeMetadata, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fast = try metadata.sortedKeysJSON()
        let reference = try Self.sortedEncoder.encode(metadata)
        #expect(
            String(decoding: fast, as: UTF8.self) == String(decoding: reference, as: UTF8.self),
            sourceLocation: sourceLocation)
        let decoded = try JSONDecoder().decode(EnvelopeMetadata.self, from: fast)
        #expect(decoded == metadata, sourceLocation: sourceLocation)
        #expect(decoded == (try JSONDecoder().decode(EnvelopeMetadata.self, from: reference)), sourceLocation: sourceLocation)
    }

    @Test func minimalMetadata() throws {
        try check(EnvelopeMetadata())
        try check(EnvelopeMetadata(timestamp: Date(timeIntervalSince1970: 0)))
        try check(EnvelopeMetadata(timestamp: Date(timeIntervalSince1970: -1_234.567_891)))
    }

    @Test func everyField() throws {
        try check(
            EnvelopeMetadata(
                correlationID: MessageID(), causationID: MessageID(), streamID: "account-42",
                timestamp: Date(timeIntervalSince1970: 1_700_000_000.123_456),
                metadata: ["tenant": "acme", "user-id": "u-1", "traceparent": "x"],
                hops: [MessagingTestSupport.fullHop(), MessagingTestSupport.fullHop(serviceName: "other")]))
    }

    @Test func hopsWithSomeFieldsAbsent() throws {
        let hops = [
            Hop(serviceName: "s", instanceID: "i"),
            Hop(serviceName: "s", instanceID: "i", executorName: "serial"),
            Hop(serviceName: "s", instanceID: "i", duration: .zero),
            Hop(serviceName: "s", instanceID: "i", duration: .nanoseconds(-5)),
            Hop(serviceName: "s", instanceID: "i", streamID: "a/b"),
            Hop(
                serviceName: "s", instanceID: "i",
                policyDecisions: [PolicyDecision(rule: "retry", decision: "attempt 1 of 3")]),
            Hop(
                serviceName: "s", instanceID: "i",
                traceParent: TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")),
        ]
        for hop in hops { try check(EnvelopeMetadata(streamID: "x", hops: [hop])) }
        try check(EnvelopeMetadata(hops: hops))
    }

    @Test func stringsThatNeedEscaping() throws {
        let texts = [
            "", "plain", "quote \" backslash \\ slash /", "http://example.com/a?b=c",
            "tab\tnewline\nreturn\rbackspace\u{8}formfeed\u{C}", "nul \u{0} unit \u{1F} bell \u{7} del \u{7F}",
            "é ü 日本 🙂", "\u{2028}\u{2029}", "</script>",
            // Longer than the writer's first buffer, so that it grows mid-string and mid-escape.
            String(repeating: "a/\u{1}", count: 2_000), String(repeating: "日本", count: 1_000),
        ]
        for text in texts {
            try check(
                EnvelopeMetadata(
                    streamID: StreamID(text), metadata: ["key": text],
                    hops: [
                        Hop(
                            serviceName: text, instanceID: text, streamID: StreamID(text), executorName: text,
                            policyDecisions: [PolicyDecision(rule: text, decision: text)])
                    ]))
        }
    }

    @Test func metadataKeysOfEveryKindSortAsJSONEncoderSortsThem() throws {
        // Plain keys take the fast path; the others (digits, capitals, symbols, non-ASCII) go through JSONEncoder.
        let keySets: [[String]] = [
            ["b", "a", "c-d", "c", "ab", "a-b"],
            ["key10", "key9", "key1"],
            ["B", "a", "C", "b"],
            ["a_b", "a-b", "aB", "ab", "a.b"],
            ["ü", "u", "z", "日本"],
        ]
        for keys in keySets {
            let metadata = Dictionary(uniqueKeysWithValues: keys.map { ($0, "v-\($0)") })
            try check(EnvelopeMetadata(metadata: metadata))
        }
        #expect(EnvelopeMetadata.hasPlainKeys(["tenant": "", "user-id": ""]))
        #expect(!EnvelopeMetadata.hasPlainKeys(["Tenant": ""]))
        #expect(!EnvelopeMetadata.hasPlainKeys(["key1": ""]))
    }

    @Test func extremeNumbers() throws {
        try check(
            EnvelopeMetadata(
                timestamp: Date(timeIntervalSince1970: 4_102_444_800),
                hops: [
                    Hop(serviceName: "s", instanceID: "i", duration: .seconds(Int64.max / 1_000_000_000)),
                    Hop(serviceName: "s", instanceID: "i", duration: .nanoseconds(Int64.min)),
                ]))
    }

    @Test func manyRandomEnvelopes() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let hopCount = Int.random(in: 0...3, using: &generator)
            let hops = (0..<hopCount).map { index in
                Hop(
                    serviceName: "svc\(index)", instanceID: String(UInt32.random(in: 0...UInt32.max), radix: 16),
                    timestamp: Date(timeIntervalSince1970: Double.random(in: 0...2_000_000_000, using: &generator)),
                    streamID: Bool.random() ? StreamID("account-\(index)") : nil,
                    executorName: Bool.random() ? "parallel" : nil,
                    policyDecisions: Bool.random() ? [PolicyDecision(rule: "route", decision: "lane \(index)")] : [],
                    duration: Bool.random() ? .nanoseconds(Int64.random(in: 0...10_000_000_000)) : nil)
            }
            try check(
                EnvelopeMetadata(
                    causationID: Bool.random() ? MessageID() : nil,
                    streamID: Bool.random() ? StreamID("stream-\(Int.random(in: 0...99))") : nil,
                    timestamp: Date(timeIntervalSince1970: Double.random(in: -1e9...4e9, using: &generator)),
                    metadata: Bool.random() ? ["tenant": "t\(Int.random(in: 0...9))"] : [:],
                    hops: hops))
        }
    }
}
