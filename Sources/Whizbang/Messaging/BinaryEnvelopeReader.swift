#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads the binary stored form of an envelope field by field, refusing anything truncated or malformed.
///
/// Every read checks the bounds first, so bytes from any source (a damaged file, another program) fail with a
/// `DecodingError` that says what was being read and where, never with a crash.
struct BinaryEnvelopeReader {
    private let bytes: UnsafeRawBufferPointer
    private var offset: Int

    /// A reader of `bytes` from `offset`; valid only while `bytes` is.
    init(_ bytes: UnsafeRawBufferPointer, from offset: Int) {
        self.bytes = bytes
        self.offset = offset
    }

    /// `DecodingError.dataCorrupted` with `message`.
    static func corrupted(_ message: String) -> DecodingError {
        DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: [], debugDescription: "binary stored envelope: \(message)"))
    }

    /// One byte.
    mutating func byte(_ what: @autoclosure () -> String) throws -> UInt8 {
        guard offset < bytes.count else { throw Self.corrupted("it ends before \(what()) (byte \(offset))") }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// An unsigned LEB128 integer of at most 10 bytes that fits 64 bits.
    mutating func varint(_ what: @autoclosure () -> String) throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try self.byte(what())
            let bits = UInt64(byte & 0x7F)
            guard shift < 63 || (shift == 63 && bits <= 1) else {
                throw Self.corrupted("\(what()) does not fit 64 bits (byte \(offset - 1))")
            }
            value |= bits << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// A zigzag-encoded signed integer.
    mutating func signedVarint(_ what: @autoclosure () -> String) throws -> Int64 {
        let zigzag = try varint(what())
        return Int64(bitPattern: (zigzag >> 1) ^ (0 &- (zigzag & 1)))
    }

    /// A count that must leave at least `minimumBytesEach` bytes per item in what is left, so that a damaged count
    /// cannot make a reader reserve or loop over more than the bytes could hold.
    mutating func count(_ what: @autoclosure () -> String, minimumBytesEach: Int) throws -> Int {
        let count = try varint(what())
        guard count <= UInt64((bytes.count - offset) / minimumBytesEach) else {
            throw Self.corrupted("\(what()) is \(count), more than the \(bytes.count - offset) bytes left can hold")
        }
        return Int(count)
    }

    /// A message id's 16 bytes, most significant first.
    mutating func id(_ what: @autoclosure () -> String) throws -> MessageID {
        guard bytes.count - offset >= 16 else { throw Self.corrupted("it ends inside \(what()) (byte \(offset))") }
        defer { offset += 16 }
        return MessageID(
            high: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
            low: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
    }

    /// A string: its UTF-8 byte count, then the bytes, which must be valid UTF-8.
    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let length = try count("the length of \(what())", minimumBytesEach: 1)
        let start = offset
        offset += length
        let text = UnsafeRawBufferPointer(rebasing: bytes[start..<offset]).withMemoryRebound(to: UInt8.self) {
            String(validating: $0, as: UTF8.self)
        }
        guard let text else { throw Self.corrupted("\(what()) is not valid UTF-8 (byte \(start))") }
        return text
    }

    /// Checks that every byte was read.
    func finish() throws {
        guard offset == bytes.count else {
            throw Self.corrupted("\(bytes.count - offset) bytes follow the envelope (byte \(offset))")
        }
    }
}
