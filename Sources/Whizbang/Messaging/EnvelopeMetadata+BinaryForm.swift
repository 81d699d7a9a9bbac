#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

extension EnvelopeMetadata {
    /// The binary stored form of the metadata, as stores keep it beside an event recorded in `rowStreamID`: the same
    /// fields as the compact JSON form (``storedForm(rowStreamID:)``), left out under the same rules, in about a
    /// third of the bytes (see <doc:StoredEnvelopeForm>).
    ///
    /// A default ledger envelope takes 59 bytes instead of 193. ``init(storedForm:rowStreamID:)`` reads it, as it reads
    /// both JSON forms.
    ///
    /// - Parameter rowStreamID: the stream of the event the metadata is stored with, or `nil` when the bytes are
    ///   kept where no stream is known (the stream, or that there is none, is then always written out).
    public func binaryStoredForm(rowStreamID: StreamID?) -> Data {
        typealias Form = BinaryEnvelopeForm
        var writer = EnvelopeBytes(capacity: hops.isEmpty ? 64 : 48 + 64 * hops.count)
        writer.byte(Form.marker)
        let writesStream = rowStreamID == nil || streamID != rowStreamID
        var flags: UInt8 = 0
        if correlationID != messageID { flags |= Form.correlation }
        if causationID != nil { flags |= Form.causation }
        if writesStream { flags |= streamID == nil ? Form.stream | Form.noStream : Form.stream }
        if !metadata.isEmpty { flags |= Form.metadata }
        if !hops.isEmpty { flags |= Form.hops }
        writer.byte(flags)
        writer.idBytes(messageID)
        if correlationID != messageID { writer.idBytes(correlationID) }
        if let causationID { writer.idBytes(causationID) }
        if writesStream, let streamID { writer.lengthPrefixed(streamID.rawValue) }
        let time = timestamp.microsecondsSince1970
        writer.signedVarint(time)
        if !metadata.isEmpty {
            writer.varint(UInt64(metadata.count))
            for key in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                writer.lengthPrefixed(key)
                writer.lengthPrefixed(metadata[key]!)
            }
        }
        if !hops.isEmpty {
            writer.varint(UInt64(hops.count))
            for hop in hops { writer.binaryHop(hop, envelopeStreamID: streamID, envelopeTime: time) }
        }
        return writer.finish()
    }

    /// The stored form in `encoding`: ``binaryStoredForm(rowStreamID:)`` or ``storedForm(rowStreamID:)``.
    ///
    /// - Parameters:
    ///   - rowStreamID: the stream of the event the metadata is stored with, or `nil` when none is known.
    ///   - encoding: the form to write.
    public func storedForm(rowStreamID: StreamID?, encoding: StoredEnvelopeEncoding) -> Data {
        switch encoding {
        case .binary: binaryStoredForm(rowStreamID: rowStreamID)
        case .json: storedForm(rowStreamID: rowStreamID)
        }
    }

    /// The message id in stored metadata of any form, without reading the rest of the envelope: what a tool needs
    /// to tell which command recorded an event.
    ///
    /// - Parameter storedForm: the bytes of the binary form, the compact JSON form or the full JSON form.
    /// - Throws: `DecodingError` when the bytes are none of these forms or hold no message id.
    public static func messageID(inStoredForm storedForm: Data) throws -> MessageID {
        if storedForm.first == BinaryEnvelopeForm.marker {
            return try storedForm.withUnsafeBytes { bytes in
                var reader = BinaryEnvelopeReader(bytes, from: 2)
                return try reader.id("the message id")
            }
        }
        return try StoredEnvelopeForm.decoder.decode(StoredMessageID.self, from: storedForm).messageID
    }
}

/// The message id of either JSON form, which both write under `messageID`.
private struct StoredMessageID: Decodable {
    let messageID: MessageID
}
