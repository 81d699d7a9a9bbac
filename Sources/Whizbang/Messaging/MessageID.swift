#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import Synchronization

/// A message identifier: a UUID version 7, ordered by creation time.
///
/// The first 48 bits are the Unix time in milliseconds, so identifiers made later compare greater and index inserts
/// stay local. Identifiers made by ``MessageID/init()`` in one process are strictly increasing, even within one
/// millisecond and when the system clock steps back (RFC 9562, section 6.2, method 2: the random bits are
/// incremented). Identifiers read from elsewhere may be any UUID version.
///
/// A message id encodes as its canonical lowercase UUID string.
public struct MessageID: Hashable, Comparable, Sendable, Codable, LosslessStringConvertible {
    /// The most significant 64 bits: the timestamp, the version and 12 random bits.
    public let high: UInt64
    /// The least significant 64 bits: the variant and 62 random bits.
    public let low: UInt64

    /// Creates a new, time-ordered identifier that is greater than every identifier this process made before.
    public init() {
        self = MessageIDGenerator.shared.next()
    }

    /// Creates an identifier from its two 64-bit halves, most significant first.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Creates an identifier with the same 128 bits as a Foundation `UUID`.
    public init(_ uuid: UUID) {
        let bytes = uuid.uuid
        self.high = withUnsafeBytes(of: bytes) { $0.load(fromByteOffset: 0, as: UInt64.self).bigEndian }
        self.low = withUnsafeBytes(of: bytes) { $0.load(fromByteOffset: 8, as: UInt64.self).bigEndian }
    }

    /// Parses a UUID string such as `"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a"`, in either case; `nil` if malformed.
    ///
    /// Only the canonical 8-4-4-4-12 form is accepted: 32 hexadecimal digits and four hyphens, nothing before or after.
    public init?(_ description: String) {
        // Foundation's `UUID(uuidString:)` is not used: it accepts strings such as "+192f1c4-…" and "0x92f1c4-…".
        var text = description
        guard let id = text.withUTF8({ MessageID.parseCanonical($0) }) else { return nil }
        self = id
    }

    /// The same 128 bits as a Foundation `UUID`.
    public var uuid: UUID {
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { raw in
            raw.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return UUID(uuid: bytes)
    }

    /// The 16 bytes of the identifier, most significant first (the order a UUID is written in).
    public var bytes: [UInt8] {
        var result = [UInt8](repeating: 0, count: 16)
        result.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return result
    }

    /// Creates an identifier from 16 bytes, most significant first; `nil` unless there are exactly 16.
    public init?<Bytes: Collection<UInt8>>(bytes: Bytes) {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    /// The UUID version (7 for identifiers made here).
    public var version: Int { Int((high >> 12) & 0xF) }

    /// The creation time in milliseconds since 1970 for a version 7 identifier.
    public var unixMilliseconds: UInt64 { high >> 16 }

    /// The canonical lowercase UUID string.
    public var description: String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            writeCanonical(into: UnsafeMutableRawBufferPointer(buffer))
            return 36
        }
    }

    /// Writes the 36 bytes of the canonical 8-4-4-4-12 lowercase form at the start of `buffer`.
    func writeCanonical(into buffer: UnsafeMutableRawBufferPointer) {
        let digits: StaticString = "0123456789abcdef"
        var index = 0
        for position in 0..<32 {
            if position == 8 || position == 12 || position == 16 || position == 20 {
                buffer[index] = UInt8(ascii: "-")
                index += 1
            }
            let half = position < 16 ? high : low
            let digit = Int(truncatingIfNeeded: half >> UInt64(60 - (position % 16) * 4)) & 0xF
            buffer[index] = digits.utf8Start[digit]
            index += 1
        }
    }

    /// Reads the canonical 8-4-4-4-12 form; `nil` for anything else.
    private static func parseCanonical(_ text: UnsafeBufferPointer<UInt8>) -> MessageID? {
        guard text.count == 36 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var digitCount = 0
        for (offset, character) in text.enumerated() {
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard character == UInt8(ascii: "-") else { return nil }
                continue
            }
            let value: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = character - UInt8(ascii: "A") + 10
            default: return nil
            }
            if digitCount < 16 {
                high = high << 4 | UInt64(value)
            } else {
                low = low << 4 | UInt64(value)
            }
            digitCount += 1
        }
        return MessageID(high: high, low: low)
    }

    /// Orders identifiers as their bytes compare, most significant first; for version 7 that is creation order.
    public static func < (lhs: MessageID, rhs: MessageID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// Decodes an identifier from a UUID string; throws `DecodingError.dataCorrupted` if the string is malformed.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = MessageID(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a UUID")
        }
        self = id
    }

    /// Encodes the identifier as its canonical lowercase UUID string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Makes strictly increasing version 7 identifiers for one process.
final class MessageIDGenerator: Sendable {
    static let shared = MessageIDGenerator()

    private struct State {
        var lastMilliseconds: UInt64 = 0
        /// The 74 random bits of the last identifier: 12 in `randomA`, 62 in `randomB`.
        var randomA: UInt64 = 0
        var randomB: UInt64 = 0
    }

    private let state = Mutex(State())

    func next() -> MessageID {
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        return state.withLock { state in
            if now > state.lastMilliseconds {
                var generator = SystemRandomNumberGenerator()
                state.lastMilliseconds = now
                // Leave headroom in the counter so that increments within one millisecond do not overflow it.
                state.randomA = UInt64.random(in: 0..<0x800, using: &generator)
                state.randomB = generator.next() & 0x3FFF_FFFF_FFFF_FFFF
            } else {
                // Same millisecond, or the clock stepped back: count up from the last identifier.
                state.randomB += 1
                if state.randomB > 0x3FFF_FFFF_FFFF_FFFF {
                    state.randomB = 0
                    state.randomA += 1
                    if state.randomA > 0xFFF {
                        state.randomA = 0
                        state.lastMilliseconds += 1
                    }
                }
            }
            let high = (state.lastMilliseconds & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | state.randomA
            let low = 0x8000_0000_0000_0000 | state.randomB
            return MessageID(high: high, low: low)
        }
    }
}
