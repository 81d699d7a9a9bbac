import Foundation
import Whizbang
import WhizbangCluster

/// The account's commands in the cluster's inbox, as short text: `open 1000`, `deposit 42`, `withdraw 42`,
/// `debit transfer-7 42`, `credit transfer-7 42`, `refund transfer-7 42`.
struct AccountCommandCodec: ClusterCommandCodec {
    func encode(_ command: Account.Command) throws -> Data {
        let text =
            switch command {
            case .open(let initialDeposit): "open \(initialDeposit)"
            case .deposit(let amount): "deposit \(amount)"
            case .withdraw(let amount): "withdraw \(amount)"
            case .debit(let transfer, let amount): "debit \(transfer) \(amount)"
            case .credit(let transfer, let amount): "credit \(transfer) \(amount)"
            case .refund(let transfer, let amount): "refund \(transfer) \(amount)"
            }
        return Data(text.utf8)
    }

    func decode(_ data: Data) throws -> Account.Command {
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("open", 2): if let amount = Int(parts[1]) { return .open(initialDeposit: amount) }
        case ("deposit", 2): if let amount = Int(parts[1]) { return .deposit(amount) }
        case ("withdraw", 2): if let amount = Int(parts[1]) { return .withdraw(amount) }
        case ("debit", 3): if let amount = Int(parts[2]) { return .debit(transfer: parts[1], amount: amount) }
        case ("credit", 3): if let amount = Int(parts[2]) { return .credit(transfer: parts[1], amount: amount) }
        case ("refund", 3): if let amount = Int(parts[2]) { return .refund(transfer: parts[1], amount: amount) }
        default: break
        }
        throw MalformedCommandText(text: text, expected: "an account command")
    }

    /// The aggregates a ledger cluster runs.
    static let aggregates = ClusterAggregates()
        .registering(Account.self, name: "Account", commands: AccountCommandCodec())
        .registering(Transfer.self, name: "Transfer", commands: TransferCommandCodec())
}
