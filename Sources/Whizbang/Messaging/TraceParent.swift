/// A W3C Trace Context `traceparent` value: the trace a message belongs to and the span that sent it.
///
/// The text form is `"00-<trace id: 32 hex>-<parent id: 16 hex>-<flags: 2 hex>"`, lowercase hexadecimal only, as in
/// `"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"`. Parsing follows the W3C recommendation: version `ff`,
/// an all-zero trace id or parent id, and uppercase digits are invalid; a version above `00` may be followed by more
/// fields (`"-…"`), which are ignored. A value always prints in the 55-character form.
///
/// Encodes as its text form; decoding an invalid string throws `DecodingError.dataCorrupted`.
public struct TraceParent: Hashable, Sendable, Codable, LosslessStringConvertible {
    /// The format version; `0` for the current W3C format.
    public let version: UInt8

    /// The trace id: 32 lowercase hexadecimal digits, not all zero.
    public let traceID: String

    /// The id of the span that sent the message: 16 lowercase hexadecimal digits, not all zero.
    public let parentID: String

    /// The trace flags; bit 0 is ``isSampled``.
    public let flags: UInt8

    /// Whether the caller may have recorded the trace (flag bit 0).
    public var isSampled: Bool { flags & 0x01 != 0 }

    /// Creates a version `00` value; `nil` unless both ids are lowercase hexadecimal of the right length, not all zero.
    ///
    /// - Parameters:
    ///   - traceID: 32 lowercase hexadecimal digits.
    ///   - parentID: 16 lowercase hexadecimal digits.
    ///   - flags: the trace flags; `0x01` marks the trace as sampled.
    public init?(traceID: String, parentID: String, flags: UInt8 = 0) {
        guard Self.isValidID(Substring(traceID).utf8, length: 32),
            Self.isValidID(Substring(parentID).utf8, length: 16)
        else { return nil }
        self.version = 0
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    /// Parses a `traceparent` header value; `nil` if it is not valid by the rules above.
    public init?(_ description: String) {
        let text = Substring(description).utf8
        guard text.count >= 55 else { return nil }
        let start = text.startIndex
        func slice(_ offset: Int, _ length: Int) -> Substring.UTF8View {
            let lower = text.index(start, offsetBy: offset)
            return text[lower..<text.index(lower, offsetBy: length)]
        }
        func character(at offset: Int) -> UInt8 { text[text.index(start, offsetBy: offset)] }
        let hyphen = UInt8(ascii: "-")
        guard character(at: 2) == hyphen, character(at: 35) == hyphen, character(at: 52) == hyphen,
            let version = Self.hexByte(slice(0, 2)), version != 0xFF,
            let flags = Self.hexByte(slice(53, 2)),
            Self.isValidID(slice(3, 32), length: 32),
            Self.isValidID(slice(36, 16), length: 16)
        else { return nil }
        // Version 00 has exactly four fields; later versions may append more after a hyphen.
        if version == 0 {
            guard text.count == 55 else { return nil }
        } else if text.count > 55 {
            guard character(at: 55) == hyphen else { return nil }
        }
        self.version = version
        self.traceID = String(Substring(slice(3, 32)))
        self.parentID = String(Substring(slice(36, 16)))
        self.flags = flags
    }

    /// The `traceparent` header value, such as `"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"`.
    public var description: String {
        "\(Self.hex(version))-\(traceID)-\(parentID)-\(Self.hex(flags))"
    }

    /// Decodes a value from its text form; throws `DecodingError.dataCorrupted` if the text is not valid.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = TraceParent(text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "'\(text)' is not a W3C traceparent value"
            )
        }
        self = value
    }

    /// Encodes the value as its 55-character text form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func hexDigit(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    private static func hexByte(_ text: Substring.UTF8View) -> UInt8? {
        guard text.count == 2, let high = hexDigit(text[text.startIndex]),
            let low = hexDigit(text[text.index(after: text.startIndex)])
        else { return nil }
        return high << 4 | low
    }

    /// Whether `text` is `length` lowercase hexadecimal digits, at least one of them not zero.
    private static func isValidID(_ text: Substring.UTF8View, length: Int) -> Bool {
        guard text.count == length else { return false }
        var anyNonZero = false
        for character in text {
            guard let digit = hexDigit(character) else { return false }
            if digit != 0 { anyNonZero = true }
        }
        return anyNonZero
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
