import Foundation
import HTTPTypes
import Testing
import Whizbang
import WhizbangConsole

@Suite("Console JSON API", .timeLimit(.minutes(5)))
struct JSONAPITests {
    @Test func overviewShowsHeadAndStreams() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let response = try await fixture.request("/api/overview")
        #expect(response.status == .ok)
        let overview = try ConsoleFixture.json(response.body)
        #expect(overview["headPosition"] as? Int == 5)
        #expect(overview["streamCount"] as? Int == 3)
        #expect(try ConsoleFixture.json(try await fixture.request("/api/head").body)["headPosition"] as? Int == 5)
    }

    @Test func streamsArePagedByPrefixInByteOrder() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let first = try ConsoleFixture.json(try await fixture.request("/api/streams?prefix=account-&limit=1").body)
        let firstStreams = try #require(first["streams"] as? [[String: Any]])
        #expect(firstStreams.map { $0["streamID"] as? String } == ["account-1"])
        #expect(firstStreams.first?["version"] as? Int == 3)
        #expect(first["next"] as? String == "account-1")
        let second = try ConsoleFixture.json(
            try await fixture.request("/api/streams?prefix=account-&limit=1&after=account-1").body)
        #expect((second["streams"] as? [[String: Any]])?.map { $0["streamID"] as? String } == ["account-2"])
        let all = try ConsoleFixture.json(try await fixture.request("/api/streams").body)
        #expect(
            (all["streams"] as? [[String: Any]])?.map { $0["streamID"] as? String }
                == ["account-1", "account-2", "order-1"])
        #expect(all["next"] is NSNull || all["next"] == nil)
    }

    /// The article promises `next` on every page, null on the last, and a `checkpoint` for every consumer. Before,
    /// the last page left the key out, and a client that read `page["next"]` strictly (a key it was told is always
    /// there) failed on it.
    @Test func theLastPageSaysNextIsNull() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        for path in ["/api/streams", "/api/stream?id=account-1", "/api/log?after=0", "/api/log?after=5"] {
            let page = try ConsoleFixture.json(try await fixture.request(path).body)
            #expect(page["next"] is NSNull, "\(path): \(page)")
        }
        // A consumer that never saved a checkpoint says so with null, as the table lists the key.
        let body = try await fixture.request("/api/projections").body
        let projections = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]]
        let ledger = try #require(projections?.first, "\(body)")
        #expect(ledger["name"] as? String == "ledger")
        #expect(ledger["checkpoint"] is NSNull, "\(ledger)")
    }

    @Test func oneStreamListsItsEventsInVersionOrder() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let page = try ConsoleFixture.json(try await fixture.request("/api/stream?id=account-1&limit=2").body)
        let events = try #require(page["events"] as? [[String: Any]])
        #expect(events.map { $0["version"] as? Int } == [1, 2])
        #expect(events.map { $0["position"] as? Int } == [1, 2])
        #expect(events.first?["correlationID"] as? String == "c-1")
        // The API keeps the bodies that the HTML tables leave out.
        #expect(events.first?["payload"] as? String == "{\n  \"amount\" : 5\n}")
        #expect(page["next"] as? Int == 3)
        let rest = try ConsoleFixture.json(try await fixture.request("/api/stream?id=account-1&from=3").body)
        #expect((rest["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [5])
    }

    @Test func theLogIsPagedByPosition() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let page = try ConsoleFixture.json(try await fixture.request("/api/log?after=1&limit=2").body)
        #expect((page["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [2, 3])
        #expect((page["events"] as? [[String: Any]])?.first?["metadata"] as? String != "")
        #expect(page["next"] as? Int == 3)
        let end = try ConsoleFixture.json(try await fixture.request("/api/log?after=5").body)
        #expect((end["events"] as? [Any])?.isEmpty == true)
    }

    /// Before, a page was capped in events only: 500 events of 1 MiB made one answer of 500 MiB, all read at once.
    @Test func aPageEndsAtItsByteBudgetWithANextToContinueFrom() async throws {
        let fixture = try ConsoleFixture { $0.maximumPageBytes = 10_000 }
        let large = "{\"text\":\"" + String(repeating: "x", count: 4_000) + "\"}"
        try await fixture.append("big", count: 100, payload: large)
        for path in ["/api/log?after=0&limit=100", "/api/stream?id=big&limit=100"] {
            let page = try ConsoleFixture.json(try await fixture.request(path).body)
            let events = try #require(page["events"] as? [[String: Any]], "\(path)")
            // Each event holds some 4 KB of payload and 60 bytes of metadata: two fit in 10,000 bytes.
            #expect(events.map { $0["position"] as? Int } == [1, 2], "\(path)")
            #expect(page["next"] != nil && !(page["next"] is NSNull), "\(path)")
        }
        // Small events fill the page by count, over several reads of the store.
        let fixture2 = try ConsoleFixture()
        try await fixture2.append("small", count: 200)
        let page = try ConsoleFixture.json(try await fixture2.request("/api/log?after=0&limit=150").body)
        #expect((page["events"] as? [[String: Any]])?.count == 150)
        #expect(page["next"] as? Int == 150)
        // One event larger than the budget still makes a page.
        let huge = try ConsoleFixture { $0.maximumPageBytes = 1_000 }
        try await huge.append("huge", payload: large)
        let one = try ConsoleFixture.json(try await huge.request("/api/log?after=0").body)
        #expect((one["events"] as? [[String: Any]])?.count == 1)
    }

    @Test func oneEventShowsItsPayloadPrettyPrinted() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let event = try ConsoleFixture.json(try await fixture.request("/api/events/4").body)
        #expect(event["type"] as? String == "Placed")
        #expect(event["streamID"] as? String == "order-1")
        #expect(event["payload"] as? String == "{\n  \"amount\" : 5\n}")
        #expect(event["causationID"] as? String == "m-0")
    }

    @Test func anEnvelopeInTheBinaryFormShowsAsJSON() async throws {
        let fixture = try ConsoleFixture()
        let envelope = EnvelopeMetadata(
            correlationID: MessageID(), streamID: "account-7", metadata: ["tenant": "blue"],
            hops: [Hop(serviceName: "ledger", instanceID: "i-1", streamID: "account-7", executorName: "serial")])
        let stored = envelope.binaryStoredForm(rowStreamID: "account-7")
        _ = try await fixture.store.append(
            [EventData(eventType: "Deposited", data: Data("{}".utf8), metadata: stored)], to: "account-7",
            expectedVersion: .noStream)
        await fixture.console.refresh()
        let event = try ConsoleFixture.json(try await fixture.request("/api/events/1").body)
        #expect(event["messageID"] as? String == envelope.messageID.description)
        #expect(event["correlationID"] as? String == envelope.correlationID.description)
        // The bytes are not text; the API shows the envelope they hold, in its full JSON form.
        let metadata = try #require(event["metadata"] as? String)
        let shown = try ConsoleFixture.json(metadata)
        #expect(shown["messageID"] as? String == envelope.messageID.description)
        #expect(shown["streamID"] as? String == "account-7")
        #expect((shown["metadata"] as? [String: String]) == ["tenant": "blue"])
        #expect(try JSONDecoder().decode(EnvelopeMetadata.self, from: Data(metadata.utf8)) == envelope)
        let page = try await fixture.request("/events/1")
        #expect(page.body.contains("&quot;tenant&quot;") || page.body.contains("\"tenant\""), "\(page.body)")
    }

    @Test(arguments: [
        "/api/stream", "/api/stream?id=", "/api/stream?id=account-1&limit=0", "/api/stream?id=account-1&limit=501",
        "/api/stream?id=account-1&from=0", "/api/log?after=x", "/api/log?after=-1", "/api/events/0",
        "/api/events/abc", "/api/streams?limit=100000",
    ])
    func badInputGets400WithAMessage(uri: String) async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let response = try await fixture.request(uri)
        #expect(response.status == .badRequest)
        #expect(try ConsoleFixture.json(response.body)["error"] is String)
    }

    /// A stream's versions start at 1. Before, `from=x` was told "a whole number from 0", and then `from=0` was
    /// refused.
    @Test func aBadFromNamesTheRangeItTakes() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        for uri in ["/api/stream?id=account-1&from=x", "/api/stream?id=account-1&from=0"] {
            let response = try await fixture.request(uri)
            #expect(response.status == .badRequest)
            let message = try #require(try ConsoleFixture.json(response.body)["error"] as? String)
            #expect(message.contains("from 1") || message.contains("start at 1"), "\(uri): \(message)")
            #expect(!message.contains("from 0"), "\(uri): \(message)")
        }
    }

    @Test(arguments: [
        "/api/stream?id=nobody", "/api/stream?id=account-1&from=4", "/api/log?after=6", "/api/events/6",
        "/api/no-such-thing",
    ])
    func missingThingsGet404WithAMessage(uri: String) async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let response = try await fixture.request(uri)
        #expect(response.status == .notFound)
        #expect(try ConsoleFixture.json(response.body)["error"] is String)
    }

    @Test func projectionsShowCheckpointAndLag() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        try await fixture.store.saveCheckpoint(2, for: "ledger")
        let projections = try #require(
            try JSONSerialization.jsonObject(with: Data(try await fixture.request("/api/projections").body.utf8))
                as? [[String: Any]])
        #expect(projections.count == 1)
        #expect(projections.first?["checkpoint"] as? Int == 2)
        #expect(projections.first?["lagEvents"] as? Int == 3)
        #expect(projections.first?["state"] as? String == "behind")
        // The in-memory store records events at the wall clock; the console's clock is fixed far after that.
        #expect((projections.first?["lagSeconds"] as? Double ?? 0) > 0)
    }

    @Test func writesAreNotAllowed() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        for method in [HTTPRequest.Method.post, .put, .delete] {
            let response = try await fixture.request("/api/stream?id=account-1", method: method, body: "{}")
            #expect(response.status.code >= 400, "\(method) answered \(response.status)")
        }
        #expect(try await fixture.store.headPosition() == 5)
    }
}
