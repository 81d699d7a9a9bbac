import Foundation
import Whizbang

/// A hand-written codec for payloads that hold a single integer field, such as `{"amount":42}`.
///
/// It writes the same legible JSON Foundation would (one key, no spaces) and reads it back without Foundation's
/// decoder, which is the bottleneck of replay (~226K events/s per core here). Input of any other shape (spaces,
/// extra keys, another key order) falls back to `JSONDecoder`, so hand-edited or imported logs still decode.
struct AmountCodec<Payload: Codable & Sendable>: EventPayloadCodec {
    /// The key of the single field, such as `"amount"`.
    let key: String
    let make: @Sendable (Int) -> Payload
    let value: @Sendable (Payload) -> Int
    private let prefix: [UInt8]

    init(key: String, make: @escaping @Sendable (Int) -> Payload, value: @escaping @Sendable (Payload) -> Int) {
        self.key = key
        self.make = make
        self.value = value
        self.prefix = Array("{\"\(key)\":".utf8)
    }

    func encode(_ payload: Payload) throws -> Data {
        var bytes = prefix
        bytes.reserveCapacity(prefix.count + 21)
        appendDecimal(value(payload), to: &bytes)
        bytes.append(UInt8(ascii: "}"))
        return Data(bytes)
    }

    func decode(_ data: Data) throws -> Payload {
        let fast: Int? = data.withUnsafeBytes { raw in
            parseFast(raw.bindMemory(to: UInt8.self))
        }
        if let fast { return make(fast) }
        return try JSONDecoder().decode(Payload.self, from: data)
    }

    /// Parses exactly `{"key":-?digits}`; `nil` for anything else.
    @inline(__always)
    private func parseFast(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        let count = bytes.count
        let prefixCount = prefix.count
        guard count > prefixCount + 1, bytes[count - 1] == UInt8(ascii: "}") else { return nil }
        for index in 0..<prefixCount where bytes[index] != prefix[index] { return nil }
        var index = prefixCount
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        let end = count - 1
        guard index < end, end - index <= 18 else { return nil }
        // JSON writes no leading zero ("01"): such bytes go to JSONDecoder, which refuses them, as every reader does.
        guard bytes[index] != UInt8(ascii: "0") || end - index == 1 else { return nil }
        var result = 0
        while index < end {
            let digit = Int(bytes[index]) &- 48
            guard digit >= 0, digit <= 9 else { return nil }
            result = result &* 10 &+ digit
            index += 1
        }
        return negative ? -result : result
    }
}

/// Appends the decimal digits of `value` to `bytes`.
func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
    if value == 0 {
        bytes.append(UInt8(ascii: "0"))
        return
    }
    var magnitude = value.magnitude
    if value < 0 { bytes.append(UInt8(ascii: "-")) }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    withUnsafeMutableBytes(of: &digits) { buffer in
        while magnitude > 0 {
            buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            count += 1
        }
        while count > 0 {
            count -= 1
            bytes.append(buffer[count])
        }
    }
}
