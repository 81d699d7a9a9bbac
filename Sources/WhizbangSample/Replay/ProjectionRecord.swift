import Foundation
import Whizbang

/// The ledger projection's summary as a run saved it: the position it reached and what the balances were there.
///
/// The run stores it as a snapshot of the pseudo-stream ``streamID``; `verify` replays the log and checks the
/// projection it rebuilds at ``position`` equals this one.
struct ProjectionRecord: Codable, Hashable, Sendable {
    static let streamID: StreamID = "$ledger-balances"
    static let stateType = "LedgerBalances.v1"

    var position: UInt64
    var events: Int
    var total: Int
    var accounts: Int
    var digest: UInt64

    init(position: UInt64, events: Int, total: Int, accounts: Int, digest: UInt64) {
        self.position = position
        self.events = events
        self.total = total
        self.accounts = accounts
        self.digest = digest
    }

    init(_ projection: LedgerProjection) {
        self.init(
            position: projection.lastPosition, events: projection.eventCount, total: projection.total,
            accounts: projection.accountCount, digest: projection.balanceDigest)
    }

    func save(to store: some EventStore) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try await store.saveSnapshot(
            Snapshot(
                streamID: Self.streamID, streamVersion: position, stateType: Self.stateType,
                data: try encoder.encode(self)))
    }

    static func load(from store: some EventStore) async throws -> ProjectionRecord? {
        guard let snapshot = try await store.latestSnapshot(for: streamID), snapshot.stateType == stateType else {
            return nil
        }
        return try JSONDecoder().decode(ProjectionRecord.self, from: snapshot.data)
    }
}
