import Foundation

/// Finds a field that a JSON object gives twice. Foundation's `JSONDecoder` keeps the first of two fields of one name
/// and drops the other unseen, so a line edited by hand could say one thing and be read as another; an import refuses
/// such a line instead.
enum RepeatedField {
    /// The name of the first field of the JSON object `bytes` that has the name of an earlier one, compared after
    /// escapes are decoded (`"\u0070osition"` is `"position"`); `nil` when every name is given once.
    ///
    /// Only the object's own fields count, not those of objects nested in it. `bytes` must be one valid JSON object,
    /// as a decoder has already read it: the scan does not check the syntax, only never reads past the end.
    static func firstName(in bytes: Data) -> String? {
        bytes.withUnsafeBytes { buffer in
            // The names so far as byte ranges, compared in place: no string or array is made for a line without
            // escapes. A name with an escape, or more names than the ranges hold, sends the line to the decoded
            // comparison, which the few such lines can afford.
            withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: 16) { ranges -> String? in
                var found = 0
                var repeated: String?
                let complete = forEachName(in: buffer) { name, hasEscape in
                    guard !hasEscape, found < ranges.count else { return false }
                    let bytes = UnsafeRawBufferPointer(rebasing: buffer[name])
                    for earlier in ranges[..<found] where buffer[earlier].elementsEqual(bytes) {
                        repeated = String(decoding: bytes, as: UTF8.self)
                        return false
                    }
                    ranges[found] = name
                    found += 1
                    return true
                }
                return complete || repeated != nil ? repeated : namesDecoded(buffer)
            }
        }
    }

    /// ``firstName(in:)`` with every name decoded into a string.
    private static func namesDecoded(_ buffer: UnsafeRawBufferPointer) -> String? {
        var names: Set<String> = []
        var repeated: String?
        _ = forEachName(in: buffer) { name, hasEscape in
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[name])
            let decoded = hasEscape ? unescaped(bytes) : String(decoding: bytes, as: UTF8.self)
            if names.insert(decoded).inserted { return true }
            repeated = decoded
            return false
        }
        return repeated
    }

    /// Calls `body` with the byte range of each name of the object's own fields (between its quotes) and whether it
    /// holds an escape, in order, until `body` returns `false`.
    ///
    /// - Returns: whether every name was passed (`body` never returned `false`).
    private static func forEachName(
        in buffer: UnsafeRawBufferPointer, _ body: (Range<Int>, _ hasEscape: Bool) -> Bool
    ) -> Bool {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var depth = 0
        var expectsName = false
        var index = 0
        while index < buffer.count {
            let byte = buffer[index]
            index += 1
            switch byte {
            case quote:
                let start = index
                var hasEscape = false
                while index < buffer.count, buffer[index] != quote {
                    if buffer[index] == backslash {
                        hasEscape = true
                        index += 1
                    }
                    index += 1
                }
                let end = min(index, buffer.count)
                index += 1
                guard depth == 1, expectsName else { continue }
                expectsName = false
                guard body(start..<end, hasEscape) else { return false }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                expectsName = depth == 1 && byte == UInt8(ascii: "{")
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                expectsName = depth == 1
            default:
                break
            }
        }
        return true
    }

    /// A name with escapes, decoded as JSON decodes it (rare: an export never writes one).
    private static func unescaped(_ raw: UnsafeRawBufferPointer) -> String {
        var quoted = Data([UInt8(ascii: "\"")])
        quoted.append(contentsOf: raw)
        quoted.append(UInt8(ascii: "\""))
        return (try? JSONDecoder().decode(String.self, from: quoted)) ?? String(decoding: raw, as: UTF8.self)
    }
}
