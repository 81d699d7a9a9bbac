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
        bytes.withUnsafeBytes { buffer in firstName(in: buffer) }
    }

    private static func firstName(in buffer: UnsafeRawBufferPointer) -> String? {
        guard let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        let count = buffer.count
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        // The names so far as byte ranges, compared in place: no string or array is made for a line without escapes.
        return withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: 16) { ranges -> String? in
            var found = 0
            var depth = 0
            var expectsName = false
            var index = 0
            while index < count {
                let byte = base[index]
                index += 1
                switch byte {
                case quote:
                    let start = index
                    while index < count, base[index] != quote {
                        if base[index] == backslash {
                            // A name with an escape, or more names than the ranges hold: the few such lines are
                            // compared as decoded strings.
                            if depth == 1, expectsName { return namesDecoded(buffer) }
                            index += 1
                        }
                        index += 1
                    }
                    let end = min(index, count)
                    index += 1
                    guard depth == 1, expectsName else { continue }
                    expectsName = false
                    let name = UnsafeBufferPointer(start: base + start, count: end - start)
                    for earlier in ranges[..<found]
                    where earlier.count == name.count
                        && memcmp(base + earlier.lowerBound, base + start, name.count) == 0
                    {
                        return String(decoding: name, as: UTF8.self)
                    }
                    guard found < ranges.count else { return namesDecoded(buffer) }
                    ranges[found] = start..<end
                    found += 1
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
            return nil
        }
    }

    /// ``firstName(in:)`` with every name decoded into a string: for the rare line with an escape in a name.
    private static func namesDecoded(_ buffer: UnsafeRawBufferPointer) -> String? {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        var names: [String] = []
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
                let raw = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
                let name = hasEscape ? unescaped(raw) : String(decoding: raw, as: UTF8.self)
                if names.contains(name) { return name }
                names.append(name)
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
        return nil
    }

    /// A name with escapes, decoded as JSON decodes it (rare: an export never writes one).
    private static func unescaped(_ raw: UnsafeRawBufferPointer) -> String {
        var quoted = Data([UInt8(ascii: "\"")])
        quoted.append(contentsOf: raw)
        quoted.append(UInt8(ascii: "\""))
        return (try? JSONDecoder().decode(String.self, from: quoted)) ?? String(decoding: raw, as: UTF8.self)
    }
}
