import Foundation
import Testing
import Whizbang

@Suite struct PublishTests {
    struct Notified: Codable, Sendable, Equatable { var text: String }
    static let notifications = EventRegistry<Notified>()
        .registering("Notified", Notified.self, embed: { $0 }, extract: { $0 })

    @Test(arguments: StoredEnvelopeEncoding.allCases)
    func publishedEventsReachTheLogWithTheirEnvelope(encoding: StoredEnvelopeEncoding) async throws {
        let store = InMemoryEventStore()
        var configuration = DispatcherConfiguration()
        configuration.envelopeEncoding = encoding
        let dispatcher = Dispatcher(store: store, configuration: configuration)
        let cause = EnvelopeMetadata(metadata: ["tenant": "blue"])
        let first = try await dispatcher.publish(
            [Notified(text: "a"), Notified(text: "b")], using: Self.notifications, to: "notifications", causedBy: cause)
        let second = try await dispatcher.publish([Notified(text: "c")], using: Self.notifications, to: "notifications")
        #expect(first.positions == 1..<3)
        #expect(second.streamVersion == 3)

        var subscription = store.subscribe(after: 0).makeAsyncIterator()
        var texts: [String] = []
        for _ in 0..<3 {
            let event = try #require(try await subscription.next())
            texts.append(try Self.notifications.decode(event).text)
        }
        #expect(texts == ["a", "b", "c"])

        let stored = try await store.readStream("notifications", from: 1, direction: .forwards, limit: 1)[0]
        // Stored in the configured form, as the dispatcher's commands are.
        if encoding == .json {
            #expect(String(decoding: stored.metadata, as: UTF8.self).hasPrefix(#"{"v":1,"#))
        } else {
            #expect(stored.metadata.first == 0xB1)
        }
        let envelope = try #require(try stored.commandEnvelope())
        #expect(envelope.correlationID == cause.correlationID)
        #expect(envelope.causationID == cause.messageID)
        #expect(envelope.metadata["tenant"] == "blue")
        #expect(envelope.hops.last?.executorName == "publish")
    }
}
