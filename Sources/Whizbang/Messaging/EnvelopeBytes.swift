#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A growing buffer of bytes with the few writers the envelope's forms need: the JSON of
/// ``EnvelopeMetadata/sortedKeysJSON()`` and ``EnvelopeMetadata/storedForm(rowStreamID:)`` here, the binary stored form
/// in `EnvelopeMetadata+BinaryForm.swift`.
///
/// It writes through a raw pointer into memory it owns and hands that memory to the `Data` it returns, so writing a
/// few hundred bytes costs a few copies of small runs and no per-byte bounds or uniqueness checks.
struct EnvelopeBytes: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        self.base = UnsafeMutablePointer<UInt8>.allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The bytes written, as `Data` that takes over the buffer.
    consuming func finish() -> Data {
        let (base, count) = (base, count)
        discard self
        return Data(bytesNoCopy: base, count: count, deallocator: .custom { bytes, _ in bytes.deallocate() })
    }

    private mutating func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        let grown = max(capacity * 2, count + extra)
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = grown
    }

    mutating func byte(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    mutating func raw(_ bytes: UnsafeBufferPointer<UInt8>) {
        reserve(bytes.count)
        if let source = bytes.baseAddress { (base + count).update(from: source, count: bytes.count) }
        count += bytes.count
    }

    /// `"key":`, preceded by a comma unless it is the object's first key. Keys are plain ASCII.
    mutating func key(_ key: StaticString, first: Bool = false) {
        reserve(key.utf8CodeUnitCount + 4)
        if !first { unchecked(UInt8(ascii: ",")) }
        unchecked(UInt8(ascii: "\""))
        (base + count).update(from: key.utf8Start, count: key.utf8CodeUnitCount)
        count += key.utf8CodeUnitCount
        unchecked(UInt8(ascii: "\""))
        unchecked(UInt8(ascii: ":"))
    }

    /// A JSON string, escaped as `JSONEncoder` escapes it.
    mutating func string(_ text: String) {
        byte(UInt8(ascii: "\""))
        // Most strings (ids, names) need no escaping: copy their bytes in one go.
        let copied = text.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            for byte in utf8 where Self.needsEscaping(byte) { return false }
            raw(utf8)
            return true
        }
        if copied != true {
            for byte in text.utf8 { escaped(byte) }
        }
        byte(UInt8(ascii: "\""))
    }

    /// A ``MessageID`` in its canonical form, as a JSON string.
    mutating func id(_ id: MessageID) {
        reserve(38)
        unchecked(UInt8(ascii: "\""))
        id.writeCanonical(into: UnsafeMutableRawBufferPointer(start: base + count, count: 36))
        count += 36
        unchecked(UInt8(ascii: "\""))
    }

    /// A decimal integer.
    mutating func integer(_ value: Int64) {
        reserve(20)
        if value < 0 { unchecked(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits = 1
        var rest = magnitude / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        var index = count + digits
        count = index
        repeat {
            index -= 1
            base[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
    }

    // MARK: Binary writers

    /// An unsigned LEB128 integer: seven bits a byte, least significant first, the high bit set on every byte but
    /// the last (1 to 10 bytes).
    mutating func varint(_ value: UInt64) {
        reserve(10)
        var rest = value
        while rest >= 0x80 {
            unchecked(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        unchecked(UInt8(rest))
    }

    /// A signed integer as ``varint(_:)`` of its zigzag form (0, -1, 1, -2, … become 0, 1, 2, 3, …), so that small
    /// magnitudes of either sign take few bytes.
    mutating func signedVarint(_ value: Int64) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// A ``MessageID``'s 16 bytes, most significant first.
    mutating func idBytes(_ id: MessageID) {
        reserve(16)
        let raw = UnsafeMutableRawPointer(base + count)
        raw.storeBytes(of: id.high.bigEndian, as: UInt64.self)
        raw.storeBytes(of: id.low.bigEndian, toByteOffset: 8, as: UInt64.self)
        count += 16
    }

    /// A string's UTF-8 bytes after their count as a ``varint(_:)``.
    mutating func lengthPrefixed(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            raw(utf8)
        }
    }

    @inline(__always)
    private mutating func unchecked(_ byte: UInt8) {
        base[count] = byte
        count += 1
    }

    private static func needsEscaping(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "/")
    }

    private mutating func escaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): escape(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): escape(UInt8(ascii: "\\"))
        case UInt8(ascii: "/"): escape(UInt8(ascii: "/"))
        case 0x08: escape(UInt8(ascii: "b"))
        case 0x0C: escape(UInt8(ascii: "f"))
        case 0x0A: escape(UInt8(ascii: "n"))
        case 0x0D: escape(UInt8(ascii: "r"))
        case 0x09: escape(UInt8(ascii: "t"))
        case 0x00..<0x20:
            let hex: StaticString = "0123456789abcdef"
            reserve(6)
            for character in [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")] {
                unchecked(character)
            }
            unchecked(hex.utf8Start[Int(byte >> 4)])
            unchecked(hex.utf8Start[Int(byte & 0xF)])
        default: self.byte(byte)
        }
    }

    private mutating func escape(_ character: UInt8) {
        reserve(2)
        unchecked(UInt8(ascii: "\\"))
        unchecked(character)
    }

    /// Policy decisions as an array of `{"decision":…,"rule":…}` objects, keys in sorted order.
    mutating func decisions(_ decisions: [PolicyDecision]) {
        byte(UInt8(ascii: "["))
        for (index, decision) in decisions.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            byte(UInt8(ascii: "{"))
            key("decision", first: true)
            string(decision.decision)
            key("rule")
            string(decision.rule)
            byte(UInt8(ascii: "}"))
        }
        byte(UInt8(ascii: "]"))
    }

    /// A string dictionary as a JSON object, keys in UTF-8 byte order (callers check that this is the order they
    /// need).
    mutating func stringsSortedByKey(_ dictionary: [String: String]) {
        byte(UInt8(ascii: "{"))
        for (index, key) in dictionary.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            string(key)
            byte(UInt8(ascii: ":"))
            string(dictionary[key]!)
        }
        byte(UInt8(ascii: "}"))
    }

    /// A ``Hop`` with its keys in sorted order: decisions, duration, executor, instance, service, streamID,
    /// timestamp, traceParent.
    mutating func hop(_ hop: Hop) {
        byte(UInt8(ascii: "{"))
        var first = true
        if !hop.policyDecisions.isEmpty {
            key("decisions", first: true)
            first = false
            decisions(hop.policyDecisions)
        }
        if let duration = hop.duration {
            key("duration", first: first)
            first = false
            integer(duration.wholeNanoseconds)
        }
        if let executor = hop.executorName {
            key("executor", first: first)
            first = false
            string(executor)
        }
        key("instance", first: first)
        string(hop.instanceID)
        key("service")
        string(hop.serviceName)
        if let streamID = hop.streamID {
            key("streamID")
            string(streamID.rawValue)
        }
        key("timestamp")
        integer(hop.timestamp.microsecondsSince1970)
        if let traceParent = hop.traceParent {
            key("traceParent")
            string(traceParent.description)
        }
        byte(UInt8(ascii: "}"))
    }
}
