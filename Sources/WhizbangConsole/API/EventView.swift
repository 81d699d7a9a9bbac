import Foundation
import Whizbang

/// One event as the API shows it: where it is, what it is, and its payload and metadata as readable text.
struct EventView: Codable, Sendable {
    var position: UInt64
    var streamID: String
    var version: UInt64
    var type: String
    var eventID: String
    var recordedAt: String
    /// The message that recorded the event, and its correlation and causation ids, when the metadata names them.
    var messageID: String?
    var correlationID: String?
    var causationID: String?
    /// The payload: pretty-printed JSON when it is JSON, its UTF-8 text otherwise; empty in a view made without
    /// bodies.
    var payload: String
    /// The metadata, pretty-printed likewise; empty when the event has none or the view was made without bodies.
    var metadata: String

    /// The view of `event`; without `bodies`, payload and metadata are left empty, for the HTML tables, which show
    /// neither: pretty-printing them was most of the work of a stream or log page.
    init(_ event: RecordedEvent, bodies: Bool = true) {
        position = event.position
        streamID = event.streamID.rawValue
        version = event.streamVersion
        type = event.eventType
        eventID = event.eventID.description
        recordedAt = event.recordedAt.formatted(.iso8601)
        payload = bodies ? Self.readable(event.data) : ""
        // Any stored form of an envelope (binary, compact or full JSON); other JSON metadata, such as a cluster
        // node's, may still name the message.
        let envelope = try? event.commandEnvelope()
        metadata = bodies ? Self.readableMetadata(event.metadata, envelope: envelope) : ""
        if let envelope {
            messageID = envelope.messageID.description
            correlationID = envelope.correlationID.description
            causationID = envelope.causationID?.description
        } else {
            let fields = (try? JSONSerialization.jsonObject(with: event.metadata)) as? [String: Any]
            messageID = fields?["messageID"] as? String
            correlationID = fields?["correlationID"] as? String
            causationID = fields?["causationID"] as? String
        }
    }

    /// Metadata as ``readable(_:)`` shows it, except that an envelope in the binary stored form, which is not text,
    /// shows as its full JSON form.
    static func readableMetadata(_ data: Data, envelope: EnvelopeMetadata?) -> String {
        guard let envelope, data.first.map({ $0 != UInt8(ascii: "{") }) == true,
            let json = try? envelope.sortedKeysJSON()
        else { return readable(data) }
        return readable(json)
    }

    /// JSON pretty-printed with sorted keys, or the bytes as UTF-8 text (invalid sequences replaced) when they are
    /// not JSON.
    static func readable(_ data: Data) -> String {
        guard !data.isEmpty else { return "" }
        if let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
            let pretty = try? JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
        {
            return String(decoding: pretty, as: UTF8.self)
        }
        return String(decoding: data, as: UTF8.self)
    }
}
