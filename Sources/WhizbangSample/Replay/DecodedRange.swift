import Foundation
import Whizbang
import WhizbangStore

/// The decoded events of one range of the log, built from the rows an SQLite store lends without copying them
/// into `RecordedEvent`s (see `SQLiteEventStore.reduceAll(after:limit:into:_:)`).
///
/// Every event is decoded through the aggregates' registries, as ``LedgerReplay/decode(_:through:collectCommandIDs:)``
/// decodes a `RecordedEvent`. Each type name and schema version met is resolved to its registry's decoder once
/// (``LedgerEvent/decoder(typeName:schemaVersion:)``), so a row's name is compared as bytes with the few kinds met
/// before instead of being copied into a string and looked up again. Unless ``namingEveryEvent``, only a stream's
/// first event gets its stream id (``DecodedEvent/streamID``): the projection knows the stream by its key after that,
/// and a reader does not look the id up for every event (a quarter of the replay's CPU at 100,000 streams).
struct DecodedRange: Sendable {
    /// The last position of the range; rows after it are skipped.
    let end: UInt64
    /// Whether every event gets its stream id, not only each stream's first.
    let namingEveryEvent: Bool
    /// Whether every event gets the id of the command that recorded it, read from its metadata.
    let collectCommandIDs: Bool
    private(set) var events: [DecodedEvent] = []
    /// The room ``events`` gets on the first append: reserved then rather than at creation, since the value the
    /// store starts its reduction from is copied before the first append, and a buffer reserved in it is never used.
    private let capacity: Int
    /// The kinds of event met so far, with their decoders.
    private var kinds: [Kind] = []

    /// A type name and schema version, and the decoder the registries resolved for them.
    private struct Kind: Sendable {
        let typeName: [UInt8]
        let schemaVersion: Int
        let decode: @Sendable (Data) throws -> LedgerEvent
    }

    init(end: UInt64, capacity: Int, namingEveryEvent: Bool = false, collectCommandIDs: Bool = false) {
        self.end = end
        self.capacity = capacity
        self.namingEveryEvent = namingEveryEvent
        self.collectCommandIDs = collectCommandIDs
    }

    /// Decodes `row` and appends it, if it is inside the range.
    mutating func append(_ row: SQLiteEventRow) throws {
        let position = row.position
        guard position <= end else { return }
        let version = row.streamVersion
        let streamID = version == 1 || namingEveryEvent ? try row.streamID : nil
        let typeName = row.eventTypeUTF8
        let event: LedgerEvent
        do {
            event = try kind(typeName, row.schemaVersion).decode(Data(row.data))
        } catch {
            let stream = try streamID ?? row.streamID
            throw SampleError.logRead(
                "event at position \(position) (\(String(decoding: typeName, as: UTF8.self)) in \(stream)) does "
                    + "not decode: \(DecodingErrorText.describe(error))")
        }
        // Metadata without a readable command id (a log imported from elsewhere, say) gives none: the event is then
        // not checked against the other events of its command.
        var messageID: MessageID?
        if collectCommandIDs {
            let metadata = row.metadata
            if metadata.count > 0 { messageID = try? EnvelopeMetadata.messageID(inStoredForm: Data(metadata)) }
        }
        if events.isEmpty { events.reserveCapacity(capacity) }
        events.append(
            DecodedEvent(
                streamID: streamID, version: version, position: position, event: event, messageID: messageID,
                streamKey: row.streamKey))
    }

    /// The kind spelled by `typeName` at `schemaVersion`, resolved through the registries the first time.
    private mutating func kind(_ typeName: UnsafeRawBufferPointer, _ schemaVersion: Int) throws -> Kind {
        for kind in kinds where kind.schemaVersion == schemaVersion && kind.typeName.elementsEqual(typeName) {
            return kind
        }
        let name = String(decoding: typeName, as: UTF8.self)
        let kind = Kind(
            typeName: Array(typeName), schemaVersion: schemaVersion,
            decode: try LedgerEvent.decoder(typeName: name, schemaVersion: schemaVersion))
        kinds.append(kind)
        return kind
    }
}
