#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A row of a read model as the store holds it: its key, its indexed value and its encoded value.
///
/// ``ReadModel`` decodes these into the projection's `Row` type; stores and tools that do not know the type (the
/// console, an export) read them as they are.
public struct ReadModelRow: Hashable, Sendable {
    /// The row's key.
    public var key: String
    /// What ``ReadModelProjection/indexValue(of:)`` returned for the row.
    public var indexValue: String?
    /// The global position of the last event that changed the row.
    public var position: UInt64
    /// The row's value, encoded as JSON.
    public var body: Data

    /// The longest key or indexed value, in UTF-8 bytes, that every store keeps: 1,024. PostgreSQL indexes both, and
    /// an index entry holds at most about 2.7 kB.
    public static let maximumKeyLength = 1_024

    /// Creates a row; stores create these.
    public init(key: String, indexValue: String?, position: UInt64, body: Data) {
        self.key = key
        self.indexValue = indexValue
        self.position = position
        self.body = body
    }
}

extension ReadModelRow {
    /// Why no store can keep `text` as a key or an indexed value: longer than ``maximumKeyLength`` UTF-8 bytes, or
    /// holding a NUL character (PostgreSQL text cannot); `nil` when every store can.
    package static func keyProblem(_ text: String) -> String? {
        let utf8 = text.utf8
        if utf8.count > maximumKeyLength {
            return "it has \(utf8.count) UTF-8 bytes; at most \(maximumKeyLength) are kept"
        }
        if utf8.contains(0) { return "it contains a NUL character" }
        return nil
    }

    /// The first 64 characters of `key`, NUL characters shown as U+FFFD: a key to name in an error.
    package static func printable(_ key: String) -> String {
        String(String.UnicodeScalarView(key.unicodeScalars.prefix(64).map { $0 == "\u{0}" ? "\u{FFFD}" : $0 }))
    }

}
