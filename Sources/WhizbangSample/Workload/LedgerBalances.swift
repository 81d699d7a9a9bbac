import Whizbang

/// The balances a ledger run keeps: one for each account of its workload, and those of other accounts that an
/// earlier run left in the store, so that a run on a kept store can be checked against all of them.
///
/// The workload's accounts are kept in an array by account number, not by stream id: at 100,000 accounts a
/// dictionary of them, and the one the checks built from it, cost 8 MiB each.
struct LedgerBalances: Sendable {
    /// The workload's accounts' balances, by account number.
    private var balances: [Int]
    private var others: [StreamID: Int]

    /// The balances at the start of a run of `accounts` accounts on a store whose balances were `baseline`.
    init(accounts: Int, baseline: [StreamID: Int]) {
        var others = baseline
        self.balances = (0..<accounts).map { account in
            others.isEmpty ? 0 : others.removeValue(forKey: StreamID(LedgerWorkload.streamName(account: account))) ?? 0
        }
        self.others = others
    }

    /// Records `balance` for `account`, which may lie outside the workload (a transfer's counterpart).
    mutating func record(_ balance: Int, account: Int) {
        if account < balances.count {
            balances[account] = balance
        } else {
            others[StreamID(LedgerWorkload.streamName(account: account))] = balance
        }
    }

    /// The order-independent digest of every balance (see ``LedgerProjection/digest(_:)``): each of the workload's
    /// accounts (0 for one never opened) and every other account, each stream once.
    var digest: UInt64 {
        LedgerProjection.digest(
            balances.indices.lazy.map { (StreamID(LedgerWorkload.streamName(account: $0)), balances[$0]) })
            &+ LedgerProjection.digest(others.lazy.map { ($0.key, $0.value) })
    }

    /// The sum of every balance.
    var total: Int { balances.reduce(0, +) + others.values.reduce(0, +) }

    /// The number of streams whose balance differs between these balances and `replayed` (each stream at most
    /// once), a stream present in only one of them counting as a difference.
    func mismatches(with replayed: some Sequence<(StreamID, Int)>) -> Int {
        var seen = [Bool](repeating: false, count: balances.count)
        var othersSeen = 0
        var mismatches = 0
        for (streamID, balance) in replayed {
            if let account = LedgerWorkload.account(named: streamID), account < balances.count {
                seen[account] = true
                if balances[account] != balance { mismatches += 1 }
            } else if let kept = others[streamID] {
                othersSeen += 1
                if kept != balance { mismatches += 1 }
            } else {
                mismatches += 1
            }
        }
        return mismatches + seen.lazy.filter { !$0 }.count + (others.count - othersSeen)
    }
}
