import Foundation
import Testing
import Whizbang

@Suite struct EnvelopeMetadataTests {
    @Test func correlationDefaultsToTheMessageID() {
        let metadata = EnvelopeMetadata()
        #expect(metadata.correlationID == metadata.messageID)
        #expect(metadata.causationID == nil)
        #expect(metadata.streamID == nil)
        #expect(metadata.metadata.isEmpty)
        #expect(metadata.hops.isEmpty)
        #expect(metadata.messageID.version == 7)
    }

    @Test func keepsEveryPart() {
        let messageID = MessageID()
        let correlationID = MessageID()
        let causationID = MessageID()
        let hop = MessagingTestSupport.fullHop()
        let metadata = EnvelopeMetadata(
            messageID: messageID,
            correlationID: correlationID,
            causationID: causationID,
            streamID: "account-42",
            timestamp: Date(timeIntervalSince1970: 1_700_000_000),
            metadata: ["tenant": "acme"],
            hops: [hop]
        )
        #expect(metadata.messageID == messageID)
        #expect(metadata.correlationID == correlationID)
        #expect(metadata.causationID == causationID)
        #expect(metadata.streamID == "account-42")
        #expect(metadata.timestamp == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(metadata.metadata == ["tenant": "acme"])
        #expect(metadata.hops == [hop])
    }

    @Test func timestampIsRoundedToTheNearestMicrosecond() {
        // 0.2 µs past a whole second: well clear of the half-microsecond boundary despite `Double`'s precision.
        let metadata = EnvelopeMetadata(timestamp: Date(timeIntervalSince1970: 1_700_000_000.000_000_2))
        #expect(metadata.timestamp == Date(timeIntervalSince1970: 1_700_000_000))
        let onWholeMicroseconds = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(EnvelopeMetadata(timestamp: onWholeMicroseconds).timestamp == onWholeMicroseconds)
    }

    @Test func encodesTheDocumentedKeys() throws {
        let full = EnvelopeMetadata(
            causationID: MessageID(),
            streamID: "account-42",
            timestamp: Date(timeIntervalSince1970: 1_700_000_000.5),
            metadata: ["tenant": "acme"],
            hops: [MessagingTestSupport.fullHop()]
        )
        let object = try MessagingTestSupport.jsonObject(full)
        #expect(Set(object.keys) == [
            "messageID", "correlationID", "causationID", "streamID", "timestamp", "metadata", "hops",
        ])
        #expect(object["messageID"] as? String == full.messageID.description)
        #expect(object["causationID"] as? String == full.causationID?.description)
        #expect((object["timestamp"] as? NSNumber)?.int64Value == 1_700_000_000_500_000)
        #expect(object["metadata"] as? [String: String] == ["tenant": "acme"])

        let minimal = try MessagingTestSupport.jsonObject(EnvelopeMetadata())
        #expect(Set(minimal.keys) == ["messageID", "correlationID", "timestamp"])
    }

    @Test func roundTripsThroughJSON() throws {
        let first = EnvelopeMetadata(metadata: ["tenant": "acme"])
        let full = EnvelopeMetadata(
            correlationID: first.correlationID,
            causationID: first.messageID,
            streamID: "account-42",
            metadata: ["tenant": "acme", "user": "ada", "": "empty key", "quote": "\"\n\u{1F600}"],
            hops: [MessagingTestSupport.fullHop(), Hop(serviceName: "mailer", instanceID: "host-2")]
        )
        #expect(try MessagingTestSupport.jsonRoundTrip(first) == first)
        #expect(try MessagingTestSupport.jsonRoundTrip(full) == full)
    }

    @Test func randomTimestampsRoundTripExactly() throws {
        var values: [EnvelopeMetadata] = []
        for _ in 0..<1_000 {
            let seconds = Double.random(in: 0...4_102_444_800)  // 1970 to 2100
            values.append(EnvelopeMetadata(timestamp: Date(timeIntervalSince1970: seconds)))
        }
        values.append(EnvelopeMetadata(timestamp: .distantPast))
        values.append(EnvelopeMetadata(timestamp: .distantFuture))
        values.append(EnvelopeMetadata(timestamp: Date(timeIntervalSince1970: 0)))
        values.append(EnvelopeMetadata(timestamp: Date(timeIntervalSinceReferenceDate: 0)))
        let decoded = try MessagingTestSupport.jsonRoundTrip(values)
        #expect(decoded == values)
    }

    @Test func decodesTheMinimalForm() throws {
        let json = #"""
            {"messageID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a",
             "correlationID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a","timestamp":0}
            """#
        let metadata = try JSONDecoder().decode(EnvelopeMetadata.self, from: Data(json.utf8))
        #expect(metadata.messageID == MessageID("0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a"))
        #expect(metadata.correlationID == metadata.messageID)
        #expect(metadata.causationID == nil)
        #expect(metadata.timestamp == Date(timeIntervalSince1970: 0))
        #expect(metadata.metadata.isEmpty)
        #expect(metadata.hops.isEmpty)
    }

    @Test(arguments: [
        #"{"correlationID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a","timestamp":0}"#,  // no message id
        #"{"messageID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a","timestamp":0}"#,  // no correlation id
        #"{"messageID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a","correlationID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a"}"#,
        #"{"messageID":"nope","correlationID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a","timestamp":0}"#,
        #"{"messageID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a","correlationID":"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a","timestamp":"2024-01-01"}"#,
    ])
    func decodingRejectsIncompleteOrMalformedJSON(json: String) {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(EnvelopeMetadata.self, from: Data(json.utf8))
        }
    }
}
