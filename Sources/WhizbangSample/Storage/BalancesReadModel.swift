import ArgumentParser
import Whizbang

/// The balance of each account, as an inline read model the store keeps (`run --read-model balances`): one row per
/// account, updated in every append's transaction, to measure what an inline read model costs the ledger.
struct BalancesReadModel: ReadModelProjection {
    struct Row: Codable, Sendable, Hashable {
        var balance: Int
    }

    let name = "balances"

    func keys(of event: RecordedEvent) throws -> [String] {
        try event.decode(as: Account.self) == nil ? [] : [event.streamID.rawValue]
    }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        let balance = row?.balance ?? 0
        switch try event.decode(as: Account.self) {
        case .opened(let opened)?: return Row(balance: opened.initialDeposit)
        case .deposited(let deposited)?: return Row(balance: balance &+ deposited.amount)
        case .withdrawn(let withdrawn)?: return Row(balance: balance &- withdrawn.amount)
        case .transferDebited(let debited)?: return Row(balance: balance &- debited.amount)
        case .transferCredited(let credited)?: return Row(balance: balance &+ credited.amount)
        case .transferRefunded(let refunded)?: return Row(balance: balance &+ refunded.amount)
        case nil: return row
        }
    }
}

/// `--read-model NAME`: a read model the SQLite store keeps during the run.
enum ReadModelOption: String, ExpressibleByArgument, CaseIterable, Sendable {
    case balances

    var projection: any ReadModelProjection {
        switch self {
        case .balances: BalancesReadModel()
        }
    }
}
