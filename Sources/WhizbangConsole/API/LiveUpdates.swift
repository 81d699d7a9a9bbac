import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import Whizbang

/// `GET /api/live`: server-sent events carrying the overview every refresh interval (event `overview`), and with
/// `tail=true` each new event of the global log after `after` (event `event`, with the event's position as its
/// `id`). The tail's events leave out payload and metadata (both empty), which the page's table does not show:
/// `/api/events/{position}` has them.
///
/// A browser reconnects to the URL it was first given, whose `after` is the head when the page loaded, and names the
/// id of the last event it received in the `Last-Event-ID` header; the tail then continues after that event, so that
/// a reconnect does not send again what the page already shows.
///
/// One stream lasts at most ``ConsoleConfiguration/maximumLiveDuration`` (browsers reconnect on their own), or
/// `updates` rounds when a client asks for fewer; it ends early when the client goes away, and when graceful shutdown
/// begins. Its writes are bounded by the same deadline and by graceful shutdown (``ResponseWriteLimit``): a write
/// still waiting for a client that stopped reading then ends with the connection, which is closed.
///
/// A round in which the store does not answer writes a comment line (`: the store did not answer`), which a browser
/// ignores: every round writes something, so a stream whose client has gone ends at its next round even while the
/// store is down. The tail reads the log in slices of at most 64 events, as a page of the log does, and sends every
/// event: a round goes on until the tail reaches the head, writing the overview again about every refresh interval
/// meanwhile, so that a tail behind a fast writer catches up as fast as its client reads (each write waits for the
/// client). Past
/// ``ConsoleConfiguration/maximumLiveStreams`` streams at once, a new one ends at once, asking the browser to retry
/// in a minute.
struct LiveUpdates<Store: EventStore>: Sendable {
    let reader: ConsoleReader<Store>
    let configuration: ConsoleConfiguration
    let streams: LiveStreamCount

    /// The stream's response; `lastEventID` is the request's `Last-Event-ID` header, which takes the place of `after`
    /// when it is a position; `connection` is the one to close when a write outlasts the stream (`nil`: none known).
    func response(
        _ query: QueryParameters,
        lastEventID: String?,
        connection: (any Channel)?
    ) async throws(ConsoleRequestError) -> Response {
        let tail = try query.flag("tail", default: false)
        var after = try query.position("after", default: UInt64.max)
        if let resumed = lastEventID.flatMap({ UInt64($0) }) { after = resumed }
        let rounds = try query.position("updates", default: UInt64.max)
        guard rounds > 0 else { throw .badRequest("updates must be at least 1") }
        let reader = reader
        let interval = configuration.refreshInterval
        let deadline = ContinuousClock.now + configuration.maximumLiveDuration
        let (streams, limit) = (streams, configuration.maximumLiveStreams)
        // Without `after`, the tail starts at the head, read in the stream's first round: a store that does not
        // answer then delays the tail, rather than failing the request (a browser's `EventSource` does not retry a
        // stream that answered with an error).
        let start: UInt64? = after == UInt64.max ? nil : after
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseWriteLimit.body(ResponseBody { writer in
                guard streams.enter(limit: limit) else {
                    let refusal = "retry: 60000\n: more than \(limit) live streams at once; try again later\n\n"
                    try await writer.write(ByteBuffer(string: refusal))
                    try await writer.finish(nil)
                    return
                }
                defer { streams.leave() }
                var position = start
                var round: UInt64 = 0
                // Graceful shutdown ends the loop (its sleep at once), so that an open page never keeps the server
                // from stopping; the stream then ends cleanly and the browser reconnects later.
                while round < rounds, ContinuousClock.now < deadline, !Task.isCancelled,
                    !Task.isShuttingDownGracefully
                {
                    if round > 0 {
                        do {
                            try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
                        } catch {
                            break
                        }
                    }
                    round += 1
                    var wrote = false
                    if let overview = try? await reader.overview() {
                        try await writer.write(Self.message("overview", overview))
                        wrote = true
                    }
                    if tail, position == nil { position = try? await reader.head().headPosition }
                    // Slices of at most 64 events, each written before the next is read, so that one read never
                    // holds more than 64 events' payloads; until a slice comes short (the head), with the overview
                    // again about every interval while the tail is behind.
                    var nextOverview = ContinuousClock.now + interval
                    while tail, let from = position, ContinuousClock.now < deadline, !Task.isShuttingDownGracefully {
                        guard
                            let slice = try? await reader.bounded("read the log", {
                                try await reader.store.readAll(after: from, limit: 64)
                            })
                        else { break }
                        for event in slice {
                            let view = EventView(event, bodies: false)
                            try await writer.write(Self.message("event", view, id: event.position))
                            position = event.position
                            wrote = true
                        }
                        guard slice.count == 64 else { break }
                        if ContinuousClock.now >= nextOverview {
                            if let overview = try? await reader.overview() {
                                try await writer.write(Self.message("overview", overview))
                            }
                            nextOverview = ContinuousClock.now + interval
                        }
                    }
                    if !wrote { try await writer.write(ByteBuffer(string: ": the store did not answer\n\n")) }
                }
                try await writer.finish(nil)
            }, deadline: deadline, connection: connection))
    }

    /// One server-sent event: its name, its id when it has one, and one line of JSON.
    static func message(_ name: String, _ value: some Encodable, id: UInt64? = nil) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let json = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let idLine = id.map { "id: \($0)\n" } ?? ""
        return ByteBuffer(string: "event: \(name)\n\(idLine)data: \(json)\n\n")
    }
}

extension HTTPField.Name {
    /// The header in which a browser's `EventSource` names the id of the last event it received when it reconnects.
    static var lastEventID: Self { Self("Last-Event-ID")! }
}
