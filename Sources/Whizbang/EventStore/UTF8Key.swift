/// A string compared, hashed and ordered by its UTF-8 bytes: the key for names that stores compare byte for byte,
/// such as checkpoint consumers.
///
/// `String`'s own `==` and hashing follow canonical equivalence, so a `Dictionary<String, _>` merges `"café"`
/// spelled with U+00E9 and `"café"` spelled with U+0065 U+0301, which SQLite and PostgreSQL keep apart. See
/// ``StreamID`` for the identity rule.
package struct UTF8Key: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The text.
    package let text: String

    /// Wraps a string.
    package init(_ text: String) {
        self.text = text
    }

    /// Whether the two texts have the same UTF-8 bytes.
    package static func == (lhs: UTF8Key, rhs: UTF8Key) -> Bool {
        UTF8Bytes.equal(lhs.text, rhs.text)
    }

    /// Feeds the text's UTF-8 bytes into `hasher`.
    package func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Orders by UTF-8 bytes.
    package static func < (lhs: UTF8Key, rhs: UTF8Key) -> Bool {
        UTF8Bytes.precede(lhs.text, rhs.text)
    }

    /// The text.
    package var description: String { text }
}

/// Comparing and hashing strings by their UTF-8 bytes, for ``StreamID`` and ``UTF8Key``.
@usableFromInline
enum UTF8Bytes {
    /// The hash of a string's UTF-8 bytes, with this process's seed.
    @usableFromInline
    static func hash(_ text: String) -> Int {
        var hasher = Hasher()
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        return hasher.finalize()
    }

    /// Whether two strings have the same UTF-8 bytes.
    @usableFromInline
    static func equal(_ lhs: String, _ rhs: String) -> Bool {
        let left = lhs.utf8
        let right = rhs.utf8
        guard left.count == right.count else { return false }
        let contiguous = left.withContiguousStorageIfAvailable { leftBytes in
            right.withContiguousStorageIfAvailable { rightBytes in
                leftBytes.elementsEqual(rightBytes)
            }
        }
        if let contiguous, let equal = contiguous { return equal }
        return left.elementsEqual(right)
    }

    /// Whether `lhs`'s UTF-8 bytes sort before `rhs`'s, byte by byte.
    static func precede(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }
}
