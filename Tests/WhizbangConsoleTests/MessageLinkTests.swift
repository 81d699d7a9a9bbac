import Foundation
import HTTPTypes
import Testing
import Whizbang
import WhizbangConsole

@Suite("Console: correlation and causation ids link to the messages they name", .timeLimit(.minutes(5)))
struct MessageLinkTests {
    /// An event `Deposited` on account-1, then a `Reserved` on hold-1 whose command was caused by that event.
    private func seedACause(_ fixture: ConsoleFixture) async throws -> (cause: RecordedEvent, command: MessageID) {
        try await fixture.append("account-1")
        let cause = try #require(try await fixture.store.readAll(after: 0, limit: 1).first)
        let command = MessageID()
        let metadata = #"{"messageID":"\#(command)","correlationID":"\#(cause.eventID)","causationID":"\#(cause.eventID)"}"#
        _ = try await fixture.store.append(
            [EventData(eventType: "Reserved", data: Data("{}".utf8), metadata: Data(metadata.utf8))], to: "hold-1",
            expectedVersion: .noStream)
        await fixture.console.refresh()
        return (cause, command)
    }

    @Test func streamAndEventPagesLinkTheIdsToTheirMessages() async throws {
        let fixture = try ConsoleFixture()
        let (cause, command) = try await seedACause(fixture)
        let link = "<a href=\"/messages/\(cause.eventID)\">\(cause.eventID)</a>"
        let stream = try await fixture.request("/stream?id=hold-1")
        #expect(stream.status == .ok)
        #expect(stream.body.components(separatedBy: link).count == 3, "correlation and causation cells link")
        let event = try await fixture.request("/events/2")
        #expect(event.body.contains(link))
        #expect(event.body.contains("<a href=\"/messages/\(command)\">\(command)</a>"))
    }

    @Test func aMessageThatIsAStoredEventShowsThatEvent() async throws {
        let fixture = try ConsoleFixture()
        let (cause, _) = try await seedACause(fixture)
        let page = try await fixture.request("/messages/\(cause.eventID)")
        #expect(page.status == .ok)
        #expect(page.body.contains("<h1>Event 1</h1>"))
        let api = try ConsoleFixture.json(try await fixture.request("/api/messages/\(cause.eventID)").body)
        #expect(api["position"] as? Int == 1)
        #expect(api["streamID"] as? String == "account-1")
    }

    @Test func aCommandOrAnUnknownIdIs404AndAMalformedOne400() async throws {
        let fixture = try ConsoleFixture()
        let (_, command) = try await seedACause(fixture)
        let missing = try await fixture.request("/messages/\(command)")
        #expect(missing.status == .notFound)
        #expect(missing.body.contains("does not keep"))
        #expect(try await fixture.request("/api/messages/\(MessageID())").status == .notFound)
        let malformed = try await fixture.request("/api/messages/%3Cscript%3E")
        #expect(malformed.status == .badRequest)
        #expect(!malformed.body.contains("<script>"))
    }

    @Test func idsThatAreNotMessageIdsShowAsText() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let stream = try await fixture.request("/stream?id=account-1")
        #expect(stream.body.contains("<td>c-1</td>"))
        #expect(!stream.body.contains("/messages/c-1"))
    }
}
