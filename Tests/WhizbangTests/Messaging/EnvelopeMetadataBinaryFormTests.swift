import Foundation
import Testing
@testable import Whizbang

/// The binary stored form of `EnvelopeMetadata` round-trips every envelope exactly, is what its article says byte for
/// byte, and refuses every malformed input with a `DecodingError`.
@Suite struct EnvelopeMetadataBinaryFormTests {
    typealias Generated = EnvelopeMetadataStoredFormTests

    /// The default ledger envelope in the binary form, as the article lays it out.
    static let ledgerBytes = hex(
        "b1" + "20" + "01a23d59d29771ea82604e74db87197b" + "eafff4edf4efb006" + "01" + "2c" + "08" + "7768697a62616e67"
            + "08" + "6561653533353738" + "ec08" + "06" + "73657269616c" + "01" + "d2e242")

    @Test func aDefaultLedgerEnvelopeIsWrittenByteForByte() throws {
        let envelope = Generated.ledgerEnvelope
        let stored = envelope.binaryStoredForm(rowStreamID: "account-203")
        #expect(stored == Self.ledgerBytes)
        #expect(stored.count == 59)
        #expect(envelope.storedForm(rowStreamID: "account-203").count == 193)
        #expect(envelope.storedForm(rowStreamID: "account-203", encoding: .binary) == stored)
        #expect(envelope.storedForm(rowStreamID: "account-203", encoding: .json)
            == envelope.storedForm(rowStreamID: "account-203"))
        #expect(try EnvelopeMetadata(storedForm: stored, rowStreamID: "account-203") == envelope)
    }

    @Test(arguments: 0..<8)
    func generatedEnvelopesRoundTripExactly(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        for _ in 0..<250 {
            let envelope = Generated.envelope(&random)
            let rows: [StreamID?] = [envelope.streamID, nil, StreamID("row-\(random.next() % 3)")]
            for row in rows {
                let stored = envelope.binaryStoredForm(rowStreamID: row)
                #expect(stored.first == 0xB1)
                #expect(try EnvelopeMetadata(storedForm: stored, rowStreamID: row) == envelope, "\(stored as NSData)")
                #expect(try EnvelopeMetadata.messageID(inStoredForm: stored) == envelope.messageID)
                #expect(stored.count < envelope.storedForm(rowStreamID: row).count)
            }
        }
    }

    @Test func theMessageIDIsFoundInEveryForm() throws {
        let envelope = Generated.ledgerEnvelope
        for stored in [
            envelope.binaryStoredForm(rowStreamID: "account-203"), envelope.storedForm(rowStreamID: "account-203"),
            try envelope.sortedKeysJSON(),
        ] {
            #expect(try EnvelopeMetadata.messageID(inStoredForm: stored) == envelope.messageID)
        }
        #expect(throws: DecodingError.self) { try EnvelopeMetadata.messageID(inStoredForm: Data([0xB1, 0x20, 1])) }
        #expect(throws: DecodingError.self) { try EnvelopeMetadata.messageID(inStoredForm: Data(#"{"v":1}"#.utf8)) }
    }

    @Test func theStreamIsLeftOutOnlyWhenItIsTheRows() throws {
        let envelope = Generated.ledgerEnvelope
        let own = envelope.binaryStoredForm(rowStreamID: "account-203")
        let other = envelope.binaryStoredForm(rowStreamID: "account-9")
        #expect(own[1] & 0x0C == 0)
        #expect(other[1] & 0x0C == 0x04)
        #expect(other.count == own.count + 1 + "account-203".utf8.count)
        // Read with any row, bytes that name their stream give it back.
        #expect(try EnvelopeMetadata(storedForm: other, rowStreamID: "elsewhere") == envelope)
        let none = EnvelopeMetadata(messageID: envelope.messageID, timestamp: envelope.timestamp)
        let noneStored = none.binaryStoredForm(rowStreamID: "account-203")
        #expect(noneStored[1] == 0x0C)
        #expect(try EnvelopeMetadata(storedForm: noneStored, rowStreamID: "account-203") == none)
    }

    /// Every prefix of a valid encoding is refused: each field checks its bounds, and a count cannot promise more
    /// than the bytes left.
    @Test(arguments: 0..<4)
    func everyTruncationIsRefused(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        for _ in 0..<40 {
            let envelope = Generated.envelope(&random)
            let stored = envelope.binaryStoredForm(rowStreamID: nil)
            for length in 1..<stored.count {
                #expect(throws: DecodingError.self) {
                    try EnvelopeMetadata(storedForm: stored.prefix(length), rowStreamID: nil)
                }
            }
            #expect(throws: DecodingError.self) {
                try EnvelopeMetadata(storedForm: stored + [0], rowStreamID: nil)
            }
        }
    }

    @Test func malformedBytesAreRefused() {
        let id = "01a23d59d29771ea82604e74db87197b"
        let time = "02"
        let hop = "08" + "0173" + "0169" + "00"  // flags, service "s", instance "i", dt 0
        let malformed: [(String, String)] = [
            ("an unknown envelope flag", "b140" + id + time),
            ("no stream without stream written", "b108" + id + time),
            ("the metadata flag with no entries", "b110" + id + time + "00"),
            ("a duplicate metadata key", "b110" + id + time + "02" + "016b0176" + "016b0177"),
            ("the hops flag with no hops", "b120" + id + time + "00"),
            ("an unknown hop flag", "b120" + id + time + "01" + "80" + "0173" + "0169" + "00"),
            ("a trail code and decisions", "b120" + id + time + "01" + "18" + "0173" + "0169" + "00" + "01"),
            ("trail code 0", "b120" + id + time + "01" + hop + "00"),
            ("trail code 3", "b120" + id + time + "01" + hop + "03"),
            ("invalid UTF-8", "b120" + id + time + "01" + "00" + "01ff" + "0169" + "00"),
            ("a count beyond the bytes", "b120" + id + time + "ffffffff0f"),
            ("a varint beyond 64 bits", "b100" + id + "ffffffffffffffffff7f"),
            ("a varint of eleven bytes", "b100" + id + "ffffffffffffffffffff01"),
            ("an invalid trace parent", "b120" + id + time + "01" + "40" + "0173" + "0169" + "00" + "0178"),
            ("a marker with nothing after it", "b1"),
        ]
        for (what, bytes) in malformed {
            #expect(throws: DecodingError.self, "\(what)") {
                try EnvelopeMetadata(storedForm: hex(bytes), rowStreamID: "account-1")
            }
        }
        // The same bytes with the fault removed read, so each case above fails for its fault alone.
        #expect(throws: Never.self) { try EnvelopeMetadata(storedForm: hex("b100" + id + time), rowStreamID: nil) }
        #expect(throws: Never.self) {
            try EnvelopeMetadata(storedForm: hex("b120" + id + time + "01" + hop + "01"), rowStreamID: nil)
        }
        #expect(throws: Never.self) {
            try EnvelopeMetadata(storedForm: hex("b100" + id + "feffffffffffffffff01"), rowStreamID: nil)
        }
        // Not a JSON text either: the marker is what tells the forms apart.
        #expect(throws: DecodingError.self) { try EnvelopeMetadata(storedForm: hex("b2"), rowStreamID: nil) }
    }

    @Test func extremeValuesRoundTrip() throws {
        let envelope = EnvelopeMetadata(
            messageID: MessageID(high: .max, low: 0), timestamp: Date(microsecondsSince1970: -4_000_000_000_000_000),
            hops: [
                Hop(
                    serviceName: String(repeating: "s", count: 300), instanceID: "",
                    timestamp: Date(microsecondsSince1970: 4_000_000_000_000_000), duration: .nanoseconds(Int64.min))
            ])
        let stored = envelope.binaryStoredForm(rowStreamID: nil)
        #expect(try EnvelopeMetadata(storedForm: stored, rowStreamID: nil) == envelope)
        // The duration's zigzag form needs all ten bytes of a varint, and the long name a two-byte length.
        #expect(stored.suffix(10) == Data(repeating: 0xFF, count: 9) + [0x01])
    }
}

/// The bytes a string of hexadecimal digits spells.
private func hex(_ text: String) -> Data {
    var bytes: [UInt8] = []
    var digits = text.makeIterator()
    while let high = digits.next(), let low = digits.next() {
        bytes.append(UInt8(String([high, low]), radix: 16)!)
    }
    return Data(bytes)
}
