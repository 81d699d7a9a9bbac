/// Which rows of a read model to read: a key range, an indexed value, or both, in key order, a page at a time.
///
/// Keys are compared by their UTF-8 bytes, in every store. Results are in ascending key order; to read the next page,
/// pass the last key you received as ``after``.
///
/// ```swift
/// let firstPage = try await loans.rows(matching: .indexed("member-7", limit: 50))
/// let nextPage = try await loans.rows(matching: .indexed("member-7", limit: 50, after: firstPage.last?.key))
/// ```
public struct ReadModelQuery: Hashable, Sendable {
    /// The largest ``limit`` a store accepts: 10,000 rows.
    public static let maximumLimit = 10_000

    /// The smallest key to include; `nil` for no lower bound. Default: `nil`.
    public var keysFrom: String?
    /// The first key not to include (an exclusive upper bound); `nil` for no upper bound. Default: `nil`.
    public var keysBefore: String?
    /// Only rows whose ``ReadModelRow/indexValue`` equals this; `nil` for any row. Default: `nil`.
    public var indexValue: String?
    /// Only keys after this one (exclusive), to read the page after a page ending with it. Default: `nil`.
    public var after: String?
    /// The most rows to return, from 1 to ``maximumLimit``. Default: 100.
    public var limit: Int

    /// A query for every row, the first `limit` in key order.
    public init(limit: Int = 100) {
        self.limit = limit
    }

    /// The rows with keys from `lower` (inclusive) up to `upper` (exclusive), in key order.
    public static func keys(from lower: String?, before upper: String?, limit: Int = 100, after: String? = nil)
        -> ReadModelQuery
    {
        var query = ReadModelQuery(limit: limit)
        query.keysFrom = lower
        query.keysBefore = upper
        query.after = after
        return query
    }

    /// The rows whose indexed value is `value`, in key order.
    public static func indexed(_ value: String, limit: Int = 100, after: String? = nil) -> ReadModelQuery {
        var query = ReadModelQuery(limit: limit)
        query.indexValue = value
        query.after = after
        return query
    }

    /// Checks ``limit`` and the texts; every store calls this before it runs a query.
    ///
    /// - Throws: ``ReadModelError`` (``ReadModelError/Code/invalidQuery``) if ``limit`` is outside
    ///   1...``maximumLimit``, or a key bound or the indexed value holds a NUL character (no stored key or value
    ///   does, and PostgreSQL text cannot).
    public func validate(readModel name: String) throws(ReadModelError) {
        guard (1...Self.maximumLimit).contains(limit) else {
            throw ReadModelError(
                .invalidQuery, readModel: name,
                message: "limit \(limit) is outside 1...\(Self.maximumLimit)")
        }
        let texts = [("keysFrom", keysFrom), ("keysBefore", keysBefore), ("after", after), ("indexValue", indexValue)]
        for case let (field, text?) in texts where text.utf8.contains(0) {
            throw ReadModelError(.invalidQuery, readModel: name, message: "\(field) contains a NUL character")
        }
    }

    /// Whether `row` is one this query selects, ignoring ``limit``: the rule every store implements, for stores that
    /// filter in memory and for tests.
    public func matches(_ row: ReadModelRow) -> Bool {
        let key = row.key.utf8
        if let keysFrom, key.lexicographicallyPrecedes(keysFrom.utf8) { return false }
        if let keysBefore, !key.lexicographicallyPrecedes(keysBefore.utf8) { return false }
        if let after, !after.utf8.lexicographicallyPrecedes(key) { return false }
        if let indexValue, row.indexValue != indexValue { return false }
        return true
    }
}
