#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

extension EnvelopeMetadata {
    /// The metadata as JSON: the same bytes `JSONEncoder` with `.sortedKeys` writes for it (the form stores keep
    /// beside each event), written directly instead of through `Encodable`.
    ///
    /// Writing the object by hand is about ten times faster than `JSONEncoder`, which matters because the dispatcher
    /// encodes one envelope per command. The output is byte for byte what the `Encodable` conformance produces:
    /// keys in sorted order, absent values and empty collections left out, `/` escaped as `\/`, control characters
    /// escaped, other characters written as UTF-8. Free-form ``metadata`` keys are sorted by plain byte order only
    /// when that is certainly the order `JSONEncoder` uses (lowercase ASCII letters and `-`); otherwise the whole
    /// value goes through `JSONEncoder`, so the result is identical either way.
    public func sortedKeysJSON() throws -> Data {
        guard Self.hasPlainKeys(metadata) else { return try Self.fallbackEncoder.encode(self) }
        var writer = JSONBytes()
        writer.reserve(hops.isEmpty ? 192 : 192 + 256 * hops.count)
        writer.byte(UInt8(ascii: "{"))
        // Keys in sorted order: causationID, correlationID, hops, messageID, metadata, streamID, timestamp.
        if let causationID {
            writer.key("causationID", first: true)
            writer.string(causationID.description)
            writer.key("correlationID")
        } else {
            writer.key("correlationID", first: true)
        }
        writer.string(correlationID.description)
        if !hops.isEmpty {
            writer.key("hops")
            writer.byte(UInt8(ascii: "["))
            for (index, hop) in hops.enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                writer.hop(hop)
            }
            writer.byte(UInt8(ascii: "]"))
        }
        writer.key("messageID")
        writer.string(messageID.description)
        if !metadata.isEmpty {
            writer.key("metadata")
            writer.byte(UInt8(ascii: "{"))
            for (index, key) in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                writer.string(key)
                writer.byte(UInt8(ascii: ":"))
                writer.string(metadata[key]!)
            }
            writer.byte(UInt8(ascii: "}"))
        }
        if let streamID {
            writer.key("streamID")
            writer.string(streamID.rawValue)
        }
        writer.key("timestamp")
        writer.integer(timestamp.microsecondsSince1970)
        writer.byte(UInt8(ascii: "}"))
        return writer.data
    }

    /// Whether every key sorts the same by bytes as by `JSONEncoder`'s `.sortedKeys` comparison (which ignores
    /// case and compares digit runs as numbers): keys of lowercase ASCII letters and hyphens only.
    static func hasPlainKeys(_ metadata: [String: String]) -> Bool {
        for key in metadata.keys {
            for byte in key.utf8 where !(byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) && byte != 0x2D {
                return false
            }
        }
        return true
    }

    private static let fallbackEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()
}

/// A growing buffer of JSON bytes with the few writers ``EnvelopeMetadata/sortedKeysJSON()`` needs.
private struct JSONBytes {
    var bytes: [UInt8] = []

    mutating func reserve(_ capacity: Int) { bytes.reserveCapacity(capacity) }

    var data: Data { Data(bytes) }

    mutating func byte(_ byte: UInt8) { bytes.append(byte) }

    /// `"key":`, preceded by a comma unless it is the object's first key. Keys are plain ASCII.
    mutating func key(_ key: StaticString, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// A JSON string, escaped as `JSONEncoder` escapes it.
    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
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
                bytes.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                    hex.utf8Start[Int(byte >> 4)], hex.utf8Start[Int(byte & 0xF)],
                ])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func escape(_ character: UInt8) {
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(character)
    }

    /// A decimal integer.
    mutating func integer(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for the 20 digits of UInt64.max
        withUnsafeMutableBytes(of: &digits) { buffer in
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: buffer[start...])
        }
    }

    /// A ``Hop`` with its keys in sorted order: decisions, duration, executor, instance, service, streamID,
    /// timestamp, traceParent.
    mutating func hop(_ hop: Hop) {
        byte(UInt8(ascii: "{"))
        var first = true
        if !hop.policyDecisions.isEmpty {
            key("decisions", first: true)
            first = false
            byte(UInt8(ascii: "["))
            for (index, decision) in hop.policyDecisions.enumerated() {
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
