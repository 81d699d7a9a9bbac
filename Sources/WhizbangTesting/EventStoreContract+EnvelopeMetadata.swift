#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Whizbang

extension EventStoreContract {
    /// Envelope metadata in both compact stored forms (binary and JSON), and in the full JSON form earlier versions
    /// wrote, reads back as the same envelope from every read path.
    static let envelopeMetadataChecks: [EventStoreContractCheck] = [
        EventStoreContractCheck(name: "read.envelopeMetadata") { store in
            let time = Date(timeIntervalSince1970: 1_796_325_626.519_541)
            let hop = Hop(
                serviceName: "whizbang", instanceID: "eae53578", timestamp: time.addingTimeInterval(0.000_566),
                streamID: "account-1", executorName: "serial",
                policyDecisions: [
                    PolicyDecision(rule: "default", decision: "execution=serial"),
                    PolicyDecision(rule: "default", decision: "maximumAttempts=10"),
                    PolicyDecision(rule: "default", decision: "timeout=none"),
                ],
                duration: .nanoseconds(546_985))
            let ledger = EnvelopeMetadata(streamID: "account-1", timestamp: time, hops: [hop])
            let caused = EnvelopeMetadata(
                correlationID: MessageID(), causationID: MessageID(), streamID: "account-1", timestamp: time,
                metadata: ["tenant": "blue", "Trace/Key": "a \"quoted\" value"],
                hops: [hop, Hop(serviceName: "other", instanceID: "i-2", timestamp: time, streamID: nil)])
            // An envelope of another stream than the event's, and one of none.
            let elsewhere = EnvelopeMetadata(streamID: "account-2", timestamp: time, hops: [hop])
            let streamless = EnvelopeMetadata(timestamp: time, hops: [hop])
            let envelopes = [ledger, caused, elsewhere, streamless]
            // Each envelope in the binary form (bytes that are not text) and in the compact JSON form.
            var events = StoredEnvelopeEncoding.allCases.flatMap { encoding in
                envelopes.map {
                    EventData(
                        eventType: "Deposited", data: Data("{}".utf8),
                        metadata: $0.storedForm(rowStreamID: "account-1", encoding: encoding))
                }
            }
            // The full form, as stores hold it from before the compact ones.
            events.append(EventData(eventType: "Deposited", data: Data("{}".utf8), metadata: try ledger.sortedKeysJSON()))
            let expected = envelopes + envelopes + [ledger]
            try await requireAppend(
                store, events, to: "account-1", expecting: .noStream, newVersion: UInt64(expected.count))
            let inStream = try await store.readStream("account-1", from: 1, direction: .forwards, limit: 20)
            let inLog = try await readWholeLog(store)
            try requireEqual(inStream.count, expected.count, "the events read from the stream")
            try requireEqual(inLog.count, expected.count, "the events read from the log")
            for (index, envelope) in expected.enumerated() {
                try requireEqual(try inStream[index].commandEnvelope(), envelope, "the envelope of stream event \(index)")
                try requireEqual(try inLog[index].commandEnvelope(), envelope, "the envelope of log event \(index)")
                let found = try await store.event(withID: events[index].eventID)
                try requireEqual(try found?.commandEnvelope(), envelope, "the envelope of event \(index) found by id")
            }
        }
    ]
}
