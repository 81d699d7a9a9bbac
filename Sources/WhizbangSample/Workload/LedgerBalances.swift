import Whizbang

/// The balances a ledger run keeps: one for each account of its workload, and those of other accounts that an
/// earlier run left in the store, so that a run on a kept store can be checked against all of them.
struct LedgerBalances {
    /// The workload's accounts' streams, by account number.
    let streamIDs: [StreamID]
    private var balances: [Int]
    private var others: [StreamID: Int]

    /// The balances at the start of a run of `accounts` accounts on a store whose balances were `baseline`.
    init(accounts: Int, baseline: [StreamID: Int]) {
        let streamIDs = (0..<accounts).map { StreamID(LedgerWorkload.streamName(account: $0)) }
        var others = baseline
        self.streamIDs = streamIDs
        self.balances = streamIDs.map { others.removeValue(forKey: $0) ?? 0 }
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

    /// Every balance, by stream: the workload's accounts that were opened or moved, and every other account.
    var kept: [StreamID: Int] {
        var result = others
        for (index, streamID) in streamIDs.enumerated() where balances[index] != 0 || result[streamID] == nil {
            result[streamID] = balances[index]
        }
        return result
    }
}
