import Foundation
import Whizbang
import WhizbangStore

/// The decoded events of one range of the log, built from the rows an SQLite store lends without copying them
/// into `RecordedEvent`s (see `SQLiteEventStore.reduceAll(after:limit:into:_:)`).
///
/// Every event is decoded through the aggregates' registries, as ``LedgerReplay/decode(_:through:collectCommandIDs:)``
/// decodes a `RecordedEvent`; the type names are interned, so a row's name is compared as bytes with the few names
/// met before instead of being copied into a new string.
struct DecodedRange: Sendable {
    /// The last position of the range; rows after it are skipped.
    let end: UInt64
    private(set) var events: [DecodedEvent] = []
    /// The type names met so far, as bytes and as the string the registries look up.
    private var typeNames: [(bytes: [UInt8], name: String)] = []

    init(end: UInt64, capacity: Int) {
        self.end = end
        events.reserveCapacity(capacity)
    }

    /// Decodes `row` and appends it, if it is inside the range.
    mutating func append(_ row: SQLiteEventRow) throws {
        let position = row.position
        guard position <= end else { return }
        let typeName = name(of: row.eventTypeUTF8)
        let streamID = try row.streamID
        let event: LedgerEvent
        do {
            event = try LedgerEvent.decode(typeName: typeName, schemaVersion: row.schemaVersion, data: Data(row.data))
        } catch {
            throw SampleError("event at position \(position) (\(typeName) in \(streamID)) does not decode: \(error)")
        }
        events.append(
            DecodedEvent(
                streamID: streamID, version: row.streamVersion, position: position, event: event, messageID: nil,
                streamKey: row.streamKey))
    }

    /// The interned type name spelled by `bytes`.
    private mutating func name(of bytes: UnsafeRawBufferPointer) -> String {
        for known in typeNames where known.bytes.elementsEqual(bytes) { return known.name }
        let name = String(decoding: bytes, as: UTF8.self)
        typeNames.append((Array(bytes), name))
        return name
    }
}
