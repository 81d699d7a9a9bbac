import Whizbang

/// The bank-ledger workload, defined exactly so that other systems can run the same one.
///
/// - Phase open: accounts `0 ..< accounts` each receive `Open` with `initialDeposit`; no random numbers are drawn.
/// - Phase operate: for each of `commands` commands draw three MT19937 outputs w1, w2, w3 (seeded like CPython's
///   `random.Random(seed)`): account `w1 % accounts`; a deposit if `w2 % 2 == 0`, else a withdrawal; amount
///   `1 + w3 % 100`. Every command draws all three, rejected or not.
/// - With transfers (a separate mode), each command draws a fourth output w4 and the kind is `w2 % 3`: 0 a deposit,
///   1 a withdrawal, 2 a transfer of the amount to account `w4 % (accounts + accounts / 100 + 1)` (the next account
///   when that is the source). About one target in a hundred is an account that was never opened, whose credit is
///   rejected, so the transfer is compensated.
struct LedgerWorkload: Sendable, Hashable {
    var accounts = 10_000
    var commands = 100_000
    var initialDeposit = 1_000
    var seed: UInt64 = 42
    var transfers = false

    enum Operation: Sendable, Hashable {
        case deposit(account: Int, amount: Int)
        case withdraw(account: Int, amount: Int)
        case transfer(from: Int, to: Int, amount: Int)
    }

    /// The operate phase's commands, in sequence order.
    func operations() -> Operations {
        Operations(workload: self)
    }

    /// The stream id of account `index`.
    static func streamName(account index: Int) -> String { "account-\(index)" }

    /// The stream ids of accounts `0 ..< accounts`, by account number.
    static func streamIDs(accounts: Int) -> [StreamID] {
        (0..<accounts).map { StreamID(streamName(account: $0)) }
    }

    /// The account whose stream id is `streamID`, if ``streamName(account:)`` spells it so.
    static func account(named streamID: StreamID) -> Int? {
        let name = streamID.rawValue
        guard name.hasPrefix("account-"), let index = Int(name.dropFirst("account-".count)), index >= 0,
            streamName(account: index) == name
        else { return nil }
        return index
    }

    struct Operations: Sequence, IteratorProtocol {
        private let workload: LedgerWorkload
        private var twister: MersenneTwister
        private var remaining: Int

        init(workload: LedgerWorkload) {
            self.workload = workload
            self.twister = MersenneTwister(seed: workload.seed)
            self.remaining = workload.commands
        }

        mutating func next() -> Operation? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            let accounts = UInt32(workload.accounts)
            let account = Int(twister.next() % accounts)
            let w2 = twister.next()
            let amount = 1 + Int(twister.next() % 100)
            guard workload.transfers else {
                return w2 % 2 == 0
                    ? .deposit(account: account, amount: amount) : .withdraw(account: account, amount: amount)
            }
            let w4 = twister.next()
            switch w2 % 3 {
            case 0: return .deposit(account: account, amount: amount)
            case 1: return .withdraw(account: account, amount: amount)
            default:
                let span = UInt32(workload.accounts + workload.accounts / 100 + 1)
                var target = Int(w4 % span)
                if target == account { target = (account + 1) % workload.accounts }
                return .transfer(from: account, to: target, amount: amount)
            }
        }
    }
}
