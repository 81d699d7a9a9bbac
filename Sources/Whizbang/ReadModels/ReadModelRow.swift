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

    /// Creates a row; stores create these.
    public init(key: String, indexValue: String?, position: UInt64, body: Data) {
        self.key = key
        self.indexValue = indexValue
        self.position = position
        self.body = body
    }
}
