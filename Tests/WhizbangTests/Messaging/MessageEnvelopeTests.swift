import Foundation
import Testing
import Whizbang

@Suite struct MessageEnvelopeTests {
    typealias OpenAccount = MessagingTestSupport.OpenAccount
    typealias AccountOpened = MessagingTestSupport.AccountOpened
    typealias SendWelcomeEmail = MessagingTestSupport.SendWelcomeEmail

    private static let command = OpenAccount(accountID: "account-42", owner: "Ada")

    @Test func aFreshEnvelopeStartsAConversation() {
        let before = Date()
        let envelope = MessageEnvelope(message: Self.command, streamID: "account-42", metadata: ["tenant": "acme"])
        #expect(envelope.messageID.version == 7)
        #expect(envelope.correlationID == envelope.messageID)
        #expect(envelope.causationID == nil)
        #expect(envelope.streamID == "account-42")
        #expect(envelope.metadata == ["tenant": "acme"])
        #expect(envelope.hops.isEmpty)
        #expect(envelope.message == Self.command)
        #expect(abs(envelope.timestamp.timeIntervalSince(before)) < 1)
    }

    @Test func aFreshEnvelopeCanJoinAKnownConversation() {
        let messageID = MessageID()
        let correlationID = MessageID()
        let timestamp = Date(timeIntervalSince1970: 1_700_000_000)
        let envelope = MessageEnvelope(
            message: Self.command,
            messageID: messageID,
            correlationID: correlationID,
            timestamp: timestamp
        )
        #expect(envelope.messageID == messageID)
        #expect(envelope.correlationID == correlationID)
        #expect(envelope.causationID == nil)
        #expect(envelope.streamID == nil)
        #expect(envelope.timestamp == timestamp)
    }

    @Test func timestampIsRoundedToTheNearestMicrosecond() {
        let envelope = MessageEnvelope(
            message: Self.command,
            timestamp: Date(timeIntervalSince1970: 1_700_000_000.123_456_2)
        )
        let microseconds = envelope.timestamp.timeIntervalSince1970 * 1_000_000
        #expect(microseconds.rounded() == 1_700_000_000_123_456)
        #expect(abs(microseconds - microseconds.rounded()) < 0.5)
    }

    @Test func correlationAndCausationFollowThreeGenerations() {
        let command = MessageEnvelope(message: Self.command, streamID: "account-42", metadata: ["tenant": "acme"])
        let event = command.causing(AccountOpened(accountID: "account-42", openedAt: 1), streamID: "account-42")
        let followUp = event.causing(SendWelcomeEmail(address: "ada@example.com"), streamID: "mailer-1")

        #expect(command.correlationID == command.messageID)
        #expect(command.causationID == nil)

        #expect(event.correlationID == command.messageID)
        #expect(event.causationID == command.messageID)
        #expect(event.streamID == "account-42")

        #expect(followUp.correlationID == command.messageID)
        #expect(followUp.causationID == event.messageID)
        #expect(followUp.streamID == "mailer-1")
        #expect(followUp.message == SendWelcomeEmail(address: "ada@example.com"))

        #expect(command.messageID < event.messageID)
        #expect(event.messageID < followUp.messageID)
    }

    @Test func aConversationStartedMidwayKeepsItsCorrelation() {
        let correlationID = MessageID()
        let first = MessageEnvelope(message: Self.command, correlationID: correlationID)
        let second = first.causing(AccountOpened(accountID: "account-42", openedAt: 1))
        let third = second.causing(SendWelcomeEmail(address: "ada@example.com"))
        #expect(first.correlationID == correlationID)
        #expect(second.correlationID == correlationID)
        #expect(third.correlationID == correlationID)
        #expect(third.causationID == second.messageID)
    }

    @Test func metadataFlowsForwardAndNewEntriesWin() {
        let command = MessageEnvelope(message: Self.command, metadata: ["tenant": "acme", "user": "ada"])
        let event = command.causing(AccountOpened(accountID: "account-42", openedAt: 1), metadata: ["user": "system"])
        let followUp = event.causing(SendWelcomeEmail(address: "ada@example.com"), metadata: ["locale": "en-GB"])
        #expect(event.metadata == ["tenant": "acme", "user": "system"])
        #expect(followUp.metadata == ["tenant": "acme", "user": "system", "locale": "en-GB"])
        #expect(command.metadata == ["tenant": "acme", "user": "ada"])
    }

    @Test func neitherStreamNorHopsAreInherited() {
        var command = MessageEnvelope(message: Self.command, streamID: "account-42")
        command.append(hop: Hop(serviceName: "ledger", instanceID: "host-1"))
        let event = command.causing(AccountOpened(accountID: "account-42", openedAt: 1))
        #expect(event.streamID == nil)
        #expect(event.hops.isEmpty)
    }

    @Test func theCausedByInitializersDeriveLikeCausing() {
        let cause = MessageEnvelope(message: Self.command, streamID: "account-42", metadata: ["tenant": "acme"])
        let messageID = MessageID()
        let timestamp = Date(timeIntervalSince1970: 1_700_000_000)
        let fromEnvelope = MessageEnvelope(
            message: AccountOpened(accountID: "account-42", openedAt: 1),
            causedBy: cause,
            messageID: messageID,
            streamID: "account-42",
            timestamp: timestamp,
            metadata: ["user": "ada"]
        )
        let fromMetadata = MessageEnvelope(
            message: AccountOpened(accountID: "account-42", openedAt: 1),
            causedBy: cause.metadataOnly,
            messageID: messageID,
            streamID: "account-42",
            timestamp: timestamp,
            metadata: ["user": "ada"]
        )
        #expect(fromEnvelope == fromMetadata)
        #expect(fromEnvelope.messageID == messageID)
        #expect(fromEnvelope.correlationID == cause.correlationID)
        #expect(fromEnvelope.causationID == cause.messageID)
        #expect(fromEnvelope.metadata == ["tenant": "acme", "user": "ada"])
        #expect(fromEnvelope.timestamp == timestamp)

        let viaCausing = cause.causing(AccountOpened(accountID: "account-42", openedAt: 1), streamID: "account-42")
        #expect(viaCausing.correlationID == fromEnvelope.correlationID)
        #expect(viaCausing.causationID == fromEnvelope.causationID)
    }

    @Test func hopsAreAppendedInOrder() {
        let first = Hop(serviceName: "gateway", instanceID: "host-1")
        let second = MessagingTestSupport.fullHop()
        var envelope = MessageEnvelope(message: Self.command)
        envelope.append(hop: first)
        envelope.append(hop: second)
        #expect(envelope.hops == [first, second])

        let original = MessageEnvelope(message: Self.command)
        let added = original.addingHop(first).addingHop(second)
        #expect(original.hops.isEmpty)
        #expect(added.hops == [first, second])
        #expect(added.messageID == original.messageID)
        #expect(added != original)
    }

    @Test func metadataCanChangeAfterwards() {
        var envelope = MessageEnvelope(message: Self.command)
        envelope.metadata["tenant"] = "acme"
        #expect(envelope.metadata == ["tenant": "acme"])
        #expect(envelope.metadataOnly.metadata == ["tenant": "acme"])
    }

    @Test func roundTripsThroughJSONWithHopsDurationsAndMetadata() throws {
        var command = MessageEnvelope(
            message: Self.command,
            streamID: "account-42",
            timestamp: Date(timeIntervalSince1970: 1_700_000_000.987_654_321),
            metadata: ["tenant": "acme", "user": "ada"]
        )
        command.append(hop: MessagingTestSupport.fullHop())
        var event = command.causing(AccountOpened(accountID: "account-42", openedAt: 1), streamID: "account-42")
        event.append(hop: MessagingTestSupport.fullHop(serviceName: "projector"))
        event.append(hop: Hop(serviceName: "mailer", instanceID: "host-2", duration: .seconds(3)))
        let followUp = event.causing(SendWelcomeEmail(address: "ada@example.com"))

        #expect(try MessagingTestSupport.jsonRoundTrip(command) == command)
        #expect(try MessagingTestSupport.jsonRoundTrip(event) == event)
        #expect(try MessagingTestSupport.jsonRoundTrip(followUp) == followUp)

        let decoded = try MessagingTestSupport.jsonRoundTrip(event)
        #expect(decoded.hops.map(\.duration) == [.nanoseconds(1_234_567), .seconds(3)])
        #expect(decoded.timestamp == event.timestamp)
    }

    @Test func manyEnvelopesRoundTripExactly() throws {
        var envelopes: [MessageEnvelope<OpenAccount>] = []
        for index in 0..<500 {
            let timestamp = Date(timeIntervalSince1970: Double.random(in: 0...4_102_444_800))
            var envelope = MessageEnvelope(
                message: OpenAccount(accountID: "account-\(index)", owner: "owner \(index)"),
                streamID: StreamID("account-\(index)"),
                timestamp: timestamp,
                metadata: ["index": "\(index)"]
            )
            envelope.append(hop: Hop(serviceName: "ledger", instanceID: "host-1", timestamp: timestamp,
                duration: .nanoseconds(Int64.random(in: 0...10_000_000_000))))
            envelopes.append(envelope)
        }
        #expect(try MessagingTestSupport.jsonRoundTrip(envelopes) == envelopes)
    }

    @Test func encodesTheMetadataKeysPlusTheMessage() throws {
        let envelope = MessageEnvelope(message: Self.command, streamID: "account-42")
        let object = try MessagingTestSupport.jsonObject(envelope)
        #expect(Set(object.keys) == ["messageID", "correlationID", "streamID", "timestamp", "message"])
        let message = try #require(object["message"] as? [String: String])
        #expect(message == ["accountID": "account-42", "owner": "Ada"])
    }

    @Test func messagesOfOtherCodableTypesRoundTrip() throws {
        let text = MessageEnvelope(message: "plain text", metadata: ["kind": "note"])
        #expect(try MessagingTestSupport.jsonRoundTrip(text) == text)
        let numbers = text.causing([1, 2, 3])
        #expect(try MessagingTestSupport.jsonRoundTrip(numbers) == numbers)
        let optional = numbers.causing(Optional<Int>.none)
        #expect(try MessagingTestSupport.jsonRoundTrip(optional) == optional)
    }

    @Test func decodingFailsWithoutTheMessage() throws {
        let metadataOnly = try JSONEncoder().encode(EnvelopeMetadata())
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(MessageEnvelope<OpenAccount>.self, from: metadataOnly)
        }
    }

    @Test func splitsIntoMetadataAndMessageAndRejoins() throws {
        var envelope = MessageEnvelope(
            message: Self.command,
            streamID: "account-42",
            metadata: ["tenant": "acme"]
        )
        envelope.append(hop: MessagingTestSupport.fullHop())
        let event = envelope.causing(AccountOpened(accountID: "account-42", openedAt: 7), streamID: "account-42")
            .addingHop(MessagingTestSupport.fullHop(serviceName: "projector"))

        let metadata = event.metadataOnly
        #expect(metadata.messageID == event.messageID)
        #expect(metadata.correlationID == event.correlationID)
        #expect(metadata.causationID == event.causationID)
        #expect(metadata.streamID == event.streamID)
        #expect(metadata.timestamp == event.timestamp)
        #expect(metadata.metadata == event.metadata)
        #expect(metadata.hops == event.hops)
        #expect(MessageEnvelope(metadata: metadata, message: event.message) == event)

        // As a store keeps it: the metadata and the message as separate JSON documents.
        let storedMetadata = try JSONEncoder().encode(metadata)
        let storedMessage = try JSONEncoder().encode(event.message)
        #expect(try MessagingTestSupport.jsonObject(metadata)["message"] == nil)
        let rejoined = MessageEnvelope(
            metadata: try JSONDecoder().decode(EnvelopeMetadata.self, from: storedMetadata),
            message: try JSONDecoder().decode(AccountOpened.self, from: storedMessage)
        )
        #expect(rejoined == event)
    }

    @Test func metadataDecodesFromAWholeEnvelope() throws {
        let envelope = MessageEnvelope(message: Self.command, metadata: ["tenant": "acme"])
            .addingHop(MessagingTestSupport.fullHop())
        let metadata = try JSONDecoder().decode(EnvelopeMetadata.self, from: JSONEncoder().encode(envelope))
        #expect(metadata == envelope.metadataOnly)
    }

    @Test func equalEnvelopesHashAlike() {
        let envelope = MessageEnvelope(message: Self.command)
        let copy = MessageEnvelope(metadata: envelope.metadataOnly, message: envelope.message)
        #expect(Set([envelope, copy]).count == 1)
        #expect(copy != MessageEnvelope(metadata: envelope.metadataOnly, message: OpenAccount(accountID: "x", owner: "y")))
    }
}
