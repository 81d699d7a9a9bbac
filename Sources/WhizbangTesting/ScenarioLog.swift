#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Whizbang

extension [RecordedEvent] {
    /// Appends an aggregate's typed events to `stream`, encoded through its `EventRegistry`, at the next global
    /// positions and stream versions, with an encoded `EnvelopeMetadata` as metadata, as the `Dispatcher` stores
    /// them: the log the scenario kits build with `given`.
    ///
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unregisteredEvent``) if the registry cannot encode an
    ///   event.
    mutating func appendGiven<A: Aggregate>(
        _ aggregate: A.Type,
        stream: StreamID,
        _ events: [A.Event],
        causedBy cause: EnvelopeMetadata?,
        file: String,
        line: Int
    ) throws(ScenarioFailure) {
        let metadata: Data
        do {
            metadata = try JSONPayloadCodec<EnvelopeMetadata>().encode(cause ?? EnvelopeMetadata(streamID: stream))
        } catch {
            throw ScenarioFailure(.unregisteredEvent, "the envelope does not encode: \(error)", file: file, line: line)
        }
        var version = self.last { $0.streamID == stream }?.streamVersion ?? 0
        var position = self.last?.position ?? 0
        for event in events {
            let encoded: EventData
            do {
                encoded = try A.events.eventData(for: event)
            } catch {
                throw ScenarioFailure(
                    .unregisteredEvent, "the event \(event) cannot be encoded: \(error)", file: file, line: line)
            }
            version += 1
            position += 1
            append(
                RecordedEvent(
                    streamID: stream, streamVersion: version, position: position, eventID: MessageID(),
                    eventType: encoded.eventType, schemaVersion: encoded.schemaVersion, data: encoded.data,
                    metadata: metadata, recordedAt: Date()))
        }
    }
}
