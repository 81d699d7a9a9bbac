import Foundation
import Whizbang

/// One line of an export: a recorded event with its metadata, as JSON.
///
/// `data` and `metadata` are the stored bytes as text when they are UTF-8 (JSON, in this sample), or base64 in
/// `dataBase64` / `metadataBase64` otherwise, so an import writes back exactly the bytes that were exported.
struct ExportedEvent: Codable, Hashable {
    var position: UInt64
    var streamID: String
    var streamVersion: UInt64
    var eventID: String
    var eventType: String
    var recordedAt: Int64
    var data: String?
    var dataBase64: String?
    var metadata: String?
    var metadataBase64: String?

    init(_ event: RecordedEvent) {
        position = event.position
        streamID = event.streamID.rawValue
        streamVersion = event.streamVersion
        eventID = event.eventID.description
        eventType = event.eventType
        recordedAt = Int64((event.recordedAt.timeIntervalSince1970 * 1_000_000).rounded())
        (data, dataBase64) = Self.text(event.data)
        (metadata, metadataBase64) = Self.text(event.metadata)
    }

    private static func text(_ bytes: Data) -> (String?, String?) {
        if let text = String(validating: bytes, as: UTF8.self) { return (text, nil) }
        return (nil, bytes.base64EncodedString())
    }

    func eventData(line: Int) throws -> EventData {
        guard let id = MessageID(eventID) else { throw SampleError("line \(line): bad event id '\(eventID)'") }
        func bytes(_ text: String?, _ base64: String?, _ name: String) throws -> Data {
            if let text { return Data(text.utf8) }
            if let base64 {
                guard let data = Data(base64Encoded: base64) else { throw SampleError("line \(line): bad \(name)") }
                return data
            }
            return Data()
        }
        return EventData(
            eventID: id, eventType: eventType, data: try bytes(data, dataBase64, "dataBase64"),
            metadata: try bytes(metadata, metadataBase64, "metadataBase64"))
    }
}
