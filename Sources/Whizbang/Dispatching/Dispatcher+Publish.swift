#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Dispatcher {
    /// Publishes events that no aggregate decides (notifications, integration events) by appending them to a
    /// stream, where every projection and process manager following the log receives them, once and in order.
    ///
    /// The events are appended with ``ExpectedVersion/any`` and stored with the envelope of the publication, so
    /// subscribers see who caused them. Publishing goes through the log rather than calling subscribers directly, so a
    /// subscriber that is down catches up later and nothing published is lost.
    ///
    /// - Parameters:
    ///   - events: the events, in order.
    ///   - registry: names and encodes the events.
    ///   - streamID: the stream to append to, for example `"notifications"`.
    ///   - metadata: metadata for the publication's envelope.
    ///   - cause: the envelope of the message that caused the publication, for correlation and causation.
    /// - Returns: the stream's new version and the events' global positions.
    /// - Throws: ``EventCodingError`` for an unregistered event, or the store's ``EventStoreError``.
    public func publish<Event: Sendable>(
        _ events: [Event],
        using registry: EventRegistry<Event>,
        to streamID: StreamID,
        metadata: [String: String] = [:],
        causedBy cause: EnvelopeMetadata? = nil
    ) async throws -> AppendResult {
        var envelope =
            if let cause {
                EnvelopeMetadata(
                    correlationID: cause.correlationID, causationID: cause.messageID, streamID: streamID,
                    metadata: cause.metadata.merging(metadata) { _, new in new })
            } else {
                EnvelopeMetadata(streamID: streamID, metadata: metadata)
            }
        envelope.hops.append(
            Hop(
                serviceName: configuration.serviceName, instanceID: configuration.instanceID, streamID: streamID,
                executorName: "publish"))
        let encodedMetadata = envelope.storedForm(rowStreamID: streamID, encoding: configuration.envelopeEncoding)
        let data = try events.map { event in try registry.eventData(for: event, metadata: encodedMetadata) }
        return try await store.append(data, to: streamID, expectedVersion: .any)
    }
}
