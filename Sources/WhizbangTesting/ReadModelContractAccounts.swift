#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
import Whizbang

/// The read model the ``ReadModelStoreContract`` checks with: a balance and an entry count per account.
///
/// An event of type ``eventType`` posts an amount to one or more accounts; a row whose balance returns to 0 is
/// deleted. Rows with a balance of 100 or more are indexed as `"large"`, others as `"small"`, negative ones not at
/// all. `factor` scales every amount (a later version of the fold), and `poison` names an account whose events
/// make the projection throw (only while `refusal` is on, when there is one). `spoiled` names an account whose key
/// the projection gives with a NUL character appended, and a row whose balance is `oversizedIndexAt` gets an indexed
/// value of 2,000 bytes: keys and values no store can keep.
struct ContractAccounts: ReadModelProjection {
    struct Row: Codable, Sendable, Hashable {
        var balance: Int
        var entries: Int
    }

    struct Posting: Codable {
        var accounts: [String]
        var amount: Int
    }

    struct Poisoned: Error, CustomStringConvertible {
        let key: String
        var description: String { "account '\(key)' is poisoned" }
    }

    static let eventType = "ReadModelContractPosted"

    let name: String
    let version: Int
    let mode: ReadModelMode
    var factor = 1
    var poison: String?
    var spoiled: String?
    var oversizedIndexAt: Int?
    var refusal: ContractRefusal?

    init(
        name: String = "contract-accounts", version: Int = 1, mode: ReadModelMode = .inline, factor: Int = 1,
        poison: String? = nil, spoiled: String? = nil, oversizedIndexAt: Int? = nil, refusal: ContractRefusal? = nil
    ) {
        self.name = name
        self.version = version
        self.mode = mode
        self.factor = factor
        self.poison = poison
        self.spoiled = spoiled
        self.oversizedIndexAt = oversizedIndexAt
        self.refusal = refusal
    }

    func keys(of event: RecordedEvent) throws -> [String] {
        guard event.eventType == Self.eventType else { return [] }
        let accounts = try JSONDecoder().decode(Posting.self, from: event.data).accounts
        return accounts.map { $0 == spoiled ? $0 + "\u{0}" : $0 }
    }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        if key == poison, refusal?.isOn ?? true { throw Poisoned(key: key) }
        let posting = try JSONDecoder().decode(Posting.self, from: event.data)
        var row = row ?? Row(balance: 0, entries: 0)
        row.balance += posting.amount * factor
        row.entries += 1
        return row.balance == 0 ? nil : row
    }

    func indexValue(of row: Row) -> String? {
        if row.balance == oversizedIndexAt { return String(repeating: "i", count: 2_000) }
        return row.balance < 0 ? nil : row.balance >= 100 ? "large" : "small"
    }

    /// An event that posts `amount` to each of `accounts`.
    static func posting(_ accounts: [String], _ amount: Int) -> EventData {
        let data = try! JSONEncoder().encode(Posting(accounts: accounts, amount: amount))
        return EventData(eventType: eventType, data: data, metadata: Data("{}".utf8))
    }
}

/// A switch that a check turns on and off, for a ``ContractAccounts`` whose `poison` account makes it throw only while
/// the switch is on: a rebuild can then fail on an event that the rows served were built with.
final class ContractRefusal: Sendable {
    private let state = Atomic<Bool>(false)

    /// Whether the projection throws on its `poison` account.
    var isOn: Bool {
        get { state.load(ordering: .sequentiallyConsistent) }
        set { state.store(newValue, ordering: .sequentiallyConsistent) }
    }
}

/// A row a check expects, with its value decoded.
struct ExpectedRow<Value: Hashable & Sendable>: Hashable, Sendable {
    var key: String
    var indexValue: String?
    var position: UInt64
    var value: Value

    /// The row as a store would hold it, with a body that does not matter, for ``ReadModelQuery/matches(_:)``.
    var stored: ReadModelRow {
        ReadModelRow(key: key, indexValue: indexValue, position: position, body: Data())
    }
}

/// Folds `events` with the projection's own `keys(of:)` and `apply(_:to:key:)`, in order, and returns the rows in
/// ascending UTF-8 key order: what any store must serve after these events.
func expectedRows<P: ReadModelProjection>(_ projection: P, folding events: [RecordedEvent]) throws
    -> [ExpectedRow<P.Row>] where P.Row: Hashable
{
    // Keyed by the keys' bytes, as a store keeps them.
    var rows: [UTF8Key: ExpectedRow<P.Row>] = [:]
    for event in events {
        for key in try projection.keys(of: event) {
            if let value = try projection.apply(event, to: rows[UTF8Key(key)]?.value, key: key) {
                rows[UTF8Key(key)] = ExpectedRow(
                    key: key, indexValue: projection.indexValue(of: value), position: event.position, value: value)
            } else {
                rows[UTF8Key(key)] = nil
            }
        }
    }
    return rows.values.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
}

/// Decodes rows a store returned, failing if one does not decode as `Value`.
func decodedRows<Value: Decodable & Hashable & Sendable>(_ rows: [ReadModelRow], as type: Value.Type)
    throws(ContractViolation) -> [ExpectedRow<Value>]
{
    var decoded: [ExpectedRow<Value>] = []
    for row in rows {
        do {
            let value = try JSONDecoder().decode(Value.self, from: row.body)
            decoded.append(ExpectedRow(key: row.key, indexValue: row.indexValue, position: row.position, value: value))
        } catch {
            throw ContractViolation("row '\(row.key)' does not decode as \(Value.self): \(error)")
        }
    }
    return decoded
}

/// Every row of read model `name` (at most ``ReadModelQuery/maximumLimit``), decoded.
func allRows(_ store: any ReadModelStore, _ name: String) async throws -> [ExpectedRow<ContractAccounts.Row>] {
    let rows = try await requireSuccess("reading every row of '\(name)'") {
        try await store.readModelRows(named: name, matching: ReadModelQuery(limit: ReadModelQuery.maximumLimit))
    }
    return try decodedRows(rows, as: ContractAccounts.Row.self)
}

/// Fails unless `rows` equal `expected`, naming the first difference.
func requireRows<Value>(
    _ rows: [ExpectedRow<Value>],
    _ expected: [ExpectedRow<Value>],
    _ what: @autoclosure () -> String,
    file: String = #fileID,
    line: Int = #line
) throws(ContractViolation) {
    // Keys compare by their bytes, as the stores keep them: `String`'s `==` takes two spellings of "café" for one.
    let keys = rows.map { Array($0.key.utf8) }
    let expectedKeys = expected.map { Array($0.key.utf8) }
    guard rows != expected || keys != expectedKeys else { return }
    try requireEqual(keys, expectedKeys, "\(what()): keys, as UTF-8 bytes", file: file, line: line)
    for (row, wanted) in zip(rows, expected) where row != wanted {
        throw ContractViolation("\(what()): row '\(row.key)': expected \(wanted), got \(row)", file: file, line: line)
    }
}

/// Runs `body`, failing unless it throws a `ReadModelError` with `code`; returns the error.
@discardableResult
func requireReadModelError<Value>(
    _ code: ReadModelError.Code,
    _ what: @autoclosure () -> String,
    file: String = #fileID,
    line: Int = #line,
    _ body: () async throws -> Value
) async throws(ContractViolation) -> ReadModelError {
    try await requireCodedError(code, what(), file: file, line: line, body)
}

/// Opens a store, runs `body` with it and closes it, also when `body` throws.
func withOpenedStore<Result>(
    _ opener: ReadModelStoreOpener,
    _ readModels: [any ReadModelProjection],
    _ body: (any ReadModelStore) async throws -> Result
) async throws -> Result {
    let store = try await requireSuccess("opening the store with \(readModels.map(\.name))") {
        try await opener.open(readModels)
    }
    do {
        let result = try await body(store)
        try await opener.close(store)
        return result
    } catch {
        try? await opener.close(store)
        throw error
    }
}

/// Appends `events` to `streamID` in pages of `pageSize`, whatever the stream holds.
func appendInPages(
    _ store: any EventStore, _ events: [EventData], to streamID: StreamID, pageSize: Int = 500
) async throws {
    var start = 0
    while start < events.count {
        let end = min(start + pageSize, events.count)
        _ = try await requireSuccess("appending to '\(streamID)'") {
            try await store.append(Array(events[start..<end]), to: streamID, expectedVersion: .any)
        }
        start = end
    }
}
