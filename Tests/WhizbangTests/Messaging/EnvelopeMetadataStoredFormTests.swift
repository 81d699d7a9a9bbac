import Foundation
import Testing
@testable import Whizbang

/// The compact stored form of `EnvelopeMetadata` round-trips every envelope exactly, and the full JSON form that
/// stores hold from earlier versions still reads.
@Suite struct EnvelopeMetadataStoredFormTests {
    /// A ledger envelope as the dispatcher stores it: the command's id, stream, time and one hop with the default
    /// policy trail.
    static let ledgerEnvelope: EnvelopeMetadata = {
        let messageID = MessageID("01a23d59-d297-71ea-8260-4e74db87197b")!
        return EnvelopeMetadata(
            messageID: messageID, streamID: "account-203", timestamp: Date(microsecondsSince1970: 1_796_325_626_519_541),
            hops: [
                Hop(
                    serviceName: "whizbang", instanceID: "eae53578",
                    timestamp: Date(microsecondsSince1970: 1_796_325_626_520_107), streamID: "account-203",
                    executorName: "serial",
                    policyDecisions: [
                        PolicyDecision(rule: "default", decision: "execution=serial"),
                        PolicyDecision(rule: "default", decision: "maximumAttempts=10"),
                        PolicyDecision(rule: "default", decision: "timeout=none"),
                    ],
                    duration: .nanoseconds(546_985))
            ])
    }()

    /// The full form a ledger event's metadata was stored in before the compact one, byte for byte.
    static let oldLedgerForm = #"{"correlationID":"01a23d59-d297-71ea-8260-4e74db87197b","hops":[{"decisions":[{"decision":"execution=serial","rule":"default"},{"decision":"maximumAttempts=10","rule":"default"},{"decision":"timeout=none","rule":"default"}],"duration":546985,"executor":"serial","instance":"eae53578","service":"whizbang","streamID":"account-203","timestamp":1796325626520107}],"messageID":"01a23d59-d297-71ea-8260-4e74db87197b","streamID":"account-203","timestamp":1796325626519541}"#

    @Test func aDefaultLedgerEnvelopeIsWrittenByteForByte() throws {
        let stored = Self.ledgerEnvelope.storedForm(rowStreamID: "account-203")
        #expect(
            String(decoding: stored, as: UTF8.self)
                == #"{"v":1,"messageID":"01a23d59-d297-71ea-8260-4e74db87197b","t":1796325626519541,"hops":[{"service":"whizbang","instance":"eae53578","dt":566,"executor":"serial","policy":"default","ns":546985}]}"#
        )
        #expect(stored.count == 193)
        #expect(try EnvelopeMetadata(storedForm: stored, rowStreamID: "account-203") == Self.ledgerEnvelope)
    }

    @Test func theOldFullFormReadsAsBefore() throws {
        let old = Data(Self.oldLedgerForm.utf8)
        #expect(try Self.ledgerEnvelope.sortedKeysJSON() == old)
        let asBefore = try JSONDecoder().decode(EnvelopeMetadata.self, from: old)
        #expect(asBefore == Self.ledgerEnvelope)
        // The full form names its stream itself: whatever the row's, it reads the same.
        #expect(try EnvelopeMetadata(storedForm: old, rowStreamID: "account-203") == asBefore)
        #expect(try EnvelopeMetadata(storedForm: old, rowStreamID: "elsewhere") == asBefore)
        #expect(try EnvelopeMetadata(storedForm: old, rowStreamID: nil) == asBefore)
    }

    @Test func theOldFullFormOfAnEveryFieldEnvelopeReads() throws {
        let json = #"{"causationID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6b","correlationID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a","hops":[{"decisions":[{"decision":"parallel","rule":"route"}],"instance":"i-1","service":"ledger","timestamp":5,"traceParent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}],"messageID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6c","metadata":{"Tenant":"a\/b"},"timestamp":7}"#
        let expected = EnvelopeMetadata(
            messageID: MessageID("0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6c")!,
            correlationID: MessageID("0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a")!,
            causationID: MessageID("0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6b")!,
            timestamp: Date(microsecondsSince1970: 7), metadata: ["Tenant": "a/b"],
            hops: [
                Hop(
                    serviceName: "ledger", instanceID: "i-1", timestamp: Date(microsecondsSince1970: 5),
                    policyDecisions: [PolicyDecision(rule: "route", decision: "parallel")],
                    traceParent: TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
            ])
        #expect(try EnvelopeMetadata(storedForm: Data(json.utf8), rowStreamID: "account-1") == expected)
    }

    @Test func theStreamIsLeftOutOnlyWhenItIsTheRows() throws {
        let envelope = Self.ledgerEnvelope
        let own = String(decoding: envelope.storedForm(rowStreamID: "account-203"), as: UTF8.self)
        let other = String(decoding: envelope.storedForm(rowStreamID: "account-9"), as: UTF8.self)
        let unknown = String(decoding: envelope.storedForm(rowStreamID: nil), as: UTF8.self)
        #expect(!own.contains("account-203"))
        #expect(other.contains(#""stream":"account-203""#))
        #expect(unknown.contains(#""stream":"account-203""#))
        let none = EnvelopeMetadata(messageID: envelope.messageID, timestamp: envelope.timestamp)
        let noneStored = none.storedForm(rowStreamID: "account-203")
        #expect(String(decoding: noneStored, as: UTF8.self).contains(#""stream":null"#))
        #expect(try EnvelopeMetadata(storedForm: noneStored, rowStreamID: "account-203") == none)
    }

    @Test func anUnknownFormVersionOrTrailCodeIsRefused() {
        let id = "01a23d59-d297-71ea-8260-4e74db87197b"
        #expect(throws: DecodingError.self) {
            try EnvelopeMetadata(storedForm: Data(#"{"v":2,"messageID":"\#(id)","t":1}"#.utf8), rowStreamID: nil)
        }
        #expect(throws: DecodingError.self) {
            try EnvelopeMetadata(
                storedForm: Data(
                    #"{"v":1,"messageID":"\#(id)","t":1,"hops":[{"service":"s","instance":"i","dt":0,"policy":"x"}]}"#
                        .utf8),
                rowStreamID: nil)
        }
        #expect(throws: DecodingError.self) {
            try EnvelopeMetadata(storedForm: Data(#"{"v":1,"t":1}"#.utf8), rowStreamID: nil)
        }
    }

    @Test(arguments: 0..<8)
    func generatedEnvelopesRoundTripExactly(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        for _ in 0..<250 {
            let envelope = Self.envelope(&random)
            let rows: [StreamID?] = [envelope.streamID, nil, StreamID("row-\(random.next() % 3)")]
            for row in rows {
                let stored = envelope.storedForm(rowStreamID: row)
                let decoded = try EnvelopeMetadata(storedForm: stored, rowStreamID: row)
                #expect(decoded == envelope, "\(String(decoding: stored, as: UTF8.self))")
            }
            // The full form keeps reading too, through the same entry point.
            let full = try envelope.sortedKeysJSON()
            #expect(try EnvelopeMetadata(storedForm: full, rowStreamID: "any") == envelope)
        }
    }

    // MARK: Generated envelopes

    static let texts = [
        "a", "account-42", "Tenant", "user_id", "x/y", "quote\"d", "back\\slash", "tab\there", "line\nbreak", "é-ü",
        "日本", "😀", "", "10", "9", "A-b", "\u{01}",
    ]

    static func text(_ random: inout SplitMix64) -> String { texts[Int(random.next() % UInt64(texts.count))] }

    static func streamID(_ random: inout SplitMix64) -> StreamID? {
        switch random.next() % 4 {
        case 0: nil
        case 1: StreamID("account-\(random.next() % 5)")
        default: StreamID("s-" + text(&random))
        }
    }

    static func time(_ random: inout SplitMix64) -> Date {
        switch random.next() % 4 {
        case 0: Date(microsecondsSince1970: 0)
        case 1: Date(microsecondsSince1970: -Int64(random.next() % 1_000_000_000_000_000))
        default: Date(microsecondsSince1970: Int64(random.next() % 4_000_000_000_000_000))
        }
    }

    static func decisions(_ random: inout SplitMix64) -> [PolicyDecision] {
        let defaults = [
            PolicyDecision(rule: "default", decision: "execution=serial"),
            PolicyDecision(rule: "default", decision: "maximumAttempts=10"),
            PolicyDecision(rule: "default", decision: "timeout=none"),
        ]
        switch random.next() % 6 {
        case 0: return []
        case 1: return defaults
        case 2:
            var parallel = defaults
            parallel[0].decision = "execution=parallel"
            return parallel
        case 3:
            var custom = defaults
            custom[1] = PolicyDecision(rule: "retry-hard", decision: "maximumAttempts=3")
            return custom
        case 4: return Array(defaults.prefix(2))
        default: return [PolicyDecision(rule: text(&random), decision: text(&random))]
        }
    }

    static func hop(_ random: inout SplitMix64, envelopeStream: StreamID?) -> Hop {
        Hop(
            serviceName: text(&random), instanceID: text(&random), timestamp: time(&random),
            streamID: random.next() % 2 == 0 ? envelopeStream : streamID(&random),
            executorName: random.next() % 3 == 0 ? nil : text(&random), policyDecisions: decisions(&random),
            duration: random.next() % 3 == 0 ? nil : .nanoseconds(Int64(bitPattern: random.next() >> 20) - 1_000),
            traceParent: random.next() % 3 == 0
                ? TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") : nil)
    }

    static func envelope(_ random: inout SplitMix64) -> EnvelopeMetadata {
        let messageID = MessageID(high: random.next(), low: random.next())
        let stream = streamID(&random)
        var metadata: [String: String] = [:]
        for _ in 0..<(random.next() % 4) { metadata[text(&random)] = text(&random) }
        return EnvelopeMetadata(
            messageID: messageID,
            correlationID: random.next() % 2 == 0 ? nil : MessageID(high: random.next(), low: random.next()),
            causationID: random.next() % 2 == 0 ? nil : MessageID(high: random.next(), low: random.next()),
            streamID: stream, timestamp: time(&random), metadata: metadata,
            hops: (0..<(random.next() % 4)).map { _ in hop(&random, envelopeStream: stream) })
    }
}
