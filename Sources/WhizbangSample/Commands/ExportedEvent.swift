import Foundation
import Whizbang
import WhizbangStore

/// One line of an export: a recorded event with its metadata, as JSON.
///
/// `data` and `metadata` are the stored bytes as text when they are UTF-8 (JSON), or base64 in `dataBase64` /
/// `metadataBase64` otherwise, so an import writes back exactly the bytes that were exported.
/// The metadata is exported in whichever form it is stored: the binary envelope form (base64) for events recorded
/// since it became the default, the compact or full JSON form for older ones (all read as the same envelopes; see
/// `EnvelopeMetadata`'s stored forms). An export is not rewritten into another form, so export, import and export
/// again is byte for byte.
/// `schemaVersion` is the event's schema version, written only when it is not 1: a line without it (as in every
/// export made before events carried a version) imports at version 1, and such a file still exports back byte for
/// byte.
struct ExportedEvent: Codable, Hashable {
    var position: UInt64
    var streamID: String
    var streamVersion: UInt64
    var eventID: String
    var eventType: String
    var schemaVersion: Int?
    var recordedAt: Int64
    var data: String?
    var dataBase64: String?
    var metadata: String?
    var metadataBase64: String?

    /// - Throws: a `SampleError` for a recording time that microseconds since 1970 cannot hold (a stored time
    ///   changed by hand: SQLite's largest integer, PostgreSQL's `infinity`), which no import would take back.
    init(_ event: RecordedEvent) throws {
        position = event.position
        streamID = event.streamID.rawValue
        streamVersion = event.streamVersion
        eventID = event.eventID.description
        eventType = event.eventType
        schemaVersion = event.schemaVersion == 1 ? nil : event.schemaVersion
        guard let microseconds = Int64(exactly: (event.recordedAt.timeIntervalSince1970 * 1_000_000).rounded()) else {
            throw SampleError(
                "the event at position \(event.position) has a recording time that cannot be exported "
                    + "(\(event.recordedAt.timeIntervalSince1970) seconds since 1970); nothing was exported")
        }
        recordedAt = microseconds
        (data, dataBase64) = Self.text(event.data)
        (metadata, metadataBase64) = Self.text(event.metadata)
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case position, streamID, streamVersion, eventID, eventType, schemaVersion, recordedAt
        case data, dataBase64, metadata, metadataBase64
    }

    /// Any key of a JSON object, to find the ones an export never writes.
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes one line, rejecting a field that an export never writes (a misspelt one would otherwise be lost).
    init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyKey.self).allKeys
        if let unknown = keys.first(where: { CodingKeys(stringValue: $0.stringValue) == nil }) {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [unknown], debugDescription: "unknown field '\(unknown.stringValue)'"))
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        position = try container.decode(UInt64.self, forKey: .position)
        streamID = try container.decode(String.self, forKey: .streamID)
        streamVersion = try container.decode(UInt64.self, forKey: .streamVersion)
        eventID = try container.decode(String.self, forKey: .eventID)
        eventType = try container.decode(String.self, forKey: .eventType)
        schemaVersion = try container.decodeIfPresent(Int.self, forKey: .schemaVersion)
        recordedAt = try container.decode(Int64.self, forKey: .recordedAt)
        data = try container.decodeIfPresent(String.self, forKey: .data)
        dataBase64 = try container.decodeIfPresent(String.self, forKey: .dataBase64)
        metadata = try container.decodeIfPresent(String.self, forKey: .metadata)
        metadataBase64 = try container.decodeIfPresent(String.self, forKey: .metadataBase64)
    }

    private static func text(_ bytes: Data) -> (String?, String?) {
        if let text = String(validating: bytes, as: UTF8.self) { return (text, nil) }
        return (nil, bytes.base64EncodedString())
    }

    /// The event to append, or a description of what is wrong with the line.
    func eventData() throws(ImportProblem) -> EventData {
        guard let id = MessageID(eventID) else { throw ImportProblem("eventID '\(eventID)' is not a UUID") }
        guard !eventType.isEmpty else { throw ImportProblem("eventType is empty") }
        let version = schemaVersion ?? 1
        guard EventStoreValidation.validSchemaVersions.contains(version) else {
            throw ImportProblem(
                "schemaVersion \(version) is out of range (1 to \(EventStoreValidation.validSchemaVersions.upperBound))")
        }
        do {
            try StreamID(streamID).validate()
        } catch {
            throw ImportProblem("streamID '\(streamID)' is not a valid stream id: \(error.message)")
        }
        func bytes(_ text: String?, _ base64: String?, _ name: String) throws(ImportProblem) -> Data {
            switch (text, base64) {
            case (let text?, nil): return Data(text.utf8)
            case (nil, let base64?):
                guard let data = Data(base64Encoded: base64) else {
                    throw ImportProblem("\(name)Base64 is not base64")
                }
                return data
            case (nil, nil): return Data()
            case (_?, _?): throw ImportProblem("both \(name) and \(name)Base64 are given")
            }
        }
        // A recording time is kept as a date: one too far from 1970 would come back another microsecond.
        let recorded = Date(timeIntervalSince1970: Double(recordedAt) / 1_000_000)
        guard Int64(exactly: (recorded.timeIntervalSince1970 * 1_000_000).rounded()) == recordedAt else {
            throw ImportProblem(
                "recordedAt \(recordedAt) is too far from 1970 to be kept exactly to the microsecond")
        }
        let event = EventData(
            eventID: id, eventType: eventType, schemaVersion: version, data: try bytes(data, dataBase64, "data"),
            metadata: try bytes(metadata, metadataBase64, "metadata"))
        // The store's own rules (event type, payload sizes), checked here so that the line is named.
        do throws(EventStoreError) {
            try EventStoreValidation.validateAppend(
                [event], to: StreamID(streamID), maximumPayloadBytes: Self.maximumPayloadBytes)
        } catch {
            throw ImportProblem(error.message.replacingOccurrences(of: "of event 0 ", with: ""))
        }
        return event
    }

    /// The largest data or metadata the sample's stores take: their default.
    static let maximumPayloadBytes = SQLiteEventStore.Configuration().maximumPayloadBytes
}
