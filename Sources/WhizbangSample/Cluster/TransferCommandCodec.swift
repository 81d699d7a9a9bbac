import Foundation
import Whizbang
import WhizbangCluster

/// The transfer's commands in the cluster's inbox, as short text: `request account-1 account-2 42`, `record-debit`,
/// `record-failure <reason>`, `complete`, `compensate <reason>`.
struct TransferCommandCodec: ClusterCommandCodec {
    func encode(_ command: Transfer.Command) throws -> Data {
        let text =
            switch command {
            case .request(let from, let to, let amount): "request \(from) \(to) \(amount)"
            case .recordDebit: "record-debit"
            case .recordFailure(let reason): "record-failure \(reason)"
            case .complete: "complete"
            case .compensate(let reason): "compensate \(reason)"
            }
        return Data(text.utf8)
    }

    func decode(_ data: Data) throws -> Transfer.Command {
        let text = String(decoding: data, as: UTF8.self)
        let verb = text.prefix { $0 != " " }
        let rest = text.dropFirst(verb.count + 1)
        switch verb {
        case "request":
            let parts = rest.split(separator: " ", omittingEmptySubsequences: false)
            if parts.count == 3, let amount = Int(parts[2]) {
                return .request(from: String(parts[0]), to: String(parts[1]), amount: amount)
            }
        case "record-debit" where rest.isEmpty: return .recordDebit
        case "record-failure": return .recordFailure(reason: String(rest))
        case "complete" where rest.isEmpty: return .complete
        case "compensate": return .compensate(reason: String(rest))
        default: break
        }
        throw MalformedCommandText(text: text, expected: "a transfer command")
    }
}
