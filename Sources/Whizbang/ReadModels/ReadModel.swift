#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Typed, read-only access to a read model that a ``ReadModelStore`` keeps: rows by key, by key range and by
/// indexed value, decoded as the projection's `Row`.
///
/// ```swift
/// let loans = ReadModel(LoansByMember(), in: store)
/// let alice = try await loans.row("member-alice")              // LoansByMember.Row?
/// let page = try await loans.rows(matching: .keys(from: "member-a", before: "member-b"))
/// ```
///
/// A value of this type holds no state of its own beyond the projection and the store: make one wherever it is
/// needed.
public struct ReadModel<Projection: ReadModelProjection>: Sendable {
    /// A decoded row: its key, its indexed value, the position of the last event that changed it, and its value.
    public struct Entry: Sendable {
        /// The row's key.
        public var key: String
        /// The row's indexed value (``ReadModelProjection/indexValue(of:)``).
        public var indexValue: String?
        /// The global position of the last event that changed the row.
        public var position: UInt64
        /// The row's value.
        public var value: Projection.Row

        /// Creates an entry.
        public init(key: String, indexValue: String?, position: UInt64, value: Projection.Row) {
            self.key = key
            self.indexValue = indexValue
            self.position = position
            self.value = value
        }
    }

    /// The projection whose rows are read.
    public let projection: Projection
    /// The store that keeps them.
    public let store: any ReadModelStore
    private let codec = JSONPayloadCodec<Projection.Row>()

    /// Access to `projection`'s rows in `store`, which must have it registered.
    public init(_ projection: Projection, in store: any ReadModelStore) {
        self.projection = projection
        self.store = store
    }

    /// The row under `key`; `nil` if there is none.
    ///
    /// - Throws: ``ReadModelError`` (``ReadModelError/Code/notLive`` during the first backfill,
    ///   ``ReadModelError/Code/undecodableRow``, ``ReadModelError/Code/unknownReadModel``), or `EventStoreError`.
    public func row(_ key: String) async throws -> Projection.Row? {
        guard let row = try await store.readModelRow(named: projection.name, key: key) else { return nil }
        return try decode(row).value
    }

    /// The rows `query` selects, in ascending key order.
    ///
    /// - Throws: as ``row(_:)``, and ``ReadModelError/Code/invalidQuery``.
    public func rows(matching query: ReadModelQuery = ReadModelQuery()) async throws -> [Entry] {
        try await store.readModelRows(named: projection.name, matching: query).map(decode)
    }

    /// Where the read model stands.
    public func status() async throws -> ReadModelStatus {
        try await store.readModelStatus(named: projection.name)
    }

    /// Waits until the read model is live and serves rows up to `position` (the head of the log when `nil`).
    ///
    /// - Throws: as ``ReadModelStore/waitForReadModel(named:toReach:timeout:)``.
    @discardableResult
    public func waitUntilCaughtUp(to position: UInt64? = nil, timeout: Duration = .seconds(30)) async throws
        -> ReadModelStatus
    {
        try await store.waitForReadModel(named: projection.name, toReach: position, timeout: timeout)
    }

    private func decode(_ row: ReadModelRow) throws(ReadModelError) -> Entry {
        do {
            return Entry(
                key: row.key, indexValue: row.indexValue, position: row.position, value: try codec.decode(row.body))
        } catch {
            throw ReadModelError(
                .undecodableRow, readModel: projection.name, key: row.key,
                message: "the stored row does not decode as \(Projection.Row.self): \(error)")
        }
    }
}
