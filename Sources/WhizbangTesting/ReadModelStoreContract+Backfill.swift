import Whizbang

extension ReadModelStoreContract {
    /// Enough events that a store building in batches of about a thousand needs several of them.
    static let historySize = 3_000

    /// Appends ``historySize`` postings to 40 accounts over a few streams.
    static func appendHistory(_ store: any EventStore, label: String = "h") async throws {
        for stream in 0..<3 {
            let events = (0..<historySize / 3).map { index in
                ContractAccounts.posting(["acct-\((index * 7 + stream) % 40)"], index % 11 - 3)
            }
            try await appendInPages(store, events, to: StreamID("\(label)-\(stream)"))
        }
    }

    /// Reads every row and fails unless they are one of `tables`; returns which one.
    static func requireOneOf(
        _ store: any ReadModelStore, _ name: String, _ tables: [[ExpectedRow<ContractAccounts.Row>]], _ what: String
    ) async throws -> Int {
        let rows = try await allRows(store, name)
        guard let index = tables.firstIndex(of: rows) else {
            throw ContractViolation(
                "\(what): a reader saw \(rows.count) rows that are neither the old table nor the new one "
                    + "(\(tables.map(\.count)) rows)")
        }
        return index
    }

    /// Backfill, rebuild and version bumps.
    static let backfillChecks: [ReadModelStoreContractCheck] = [
        ReadModelStoreContractCheck(name: "readModel.backfill.matchesAFoldOfTheLog") { opener in
            try await withOpenedStore(opener, []) { store in try await appendHistory(store) }
            for mode in [ReadModelMode.inline, .async] {
                let accounts = ContractAccounts(name: "contract-\(mode)", mode: mode)
                try await withOpenedStore(opener, [accounts]) { store in
                    let status = try await requireSuccess("waiting for the backfill of an \(mode) read model") {
                        try await store.waitForReadModel(named: accounts.name, toReach: nil, timeout: .seconds(120))
                    }
                    try requireEqual(status.state, .live, "the state after the backfill")
                    try requireEqual(status.servedVersion, 1, "the version served after the backfill")
                    try requireRows(
                        try await allRows(store, accounts.name),
                        try expectedRows(accounts, folding: try await readWholeLog(store)),
                        "the backfilled rows of an \(mode) read model")
                    try await appendInPages(store, [ContractAccounts.posting(["acct-1", "new"], 9)], to: "after")
                    try await store.waitForReadModel(named: accounts.name, toReach: nil, timeout: .seconds(60))
                    try requireRows(
                        try await allRows(store, accounts.name),
                        try expectedRows(accounts, folding: try await readWholeLog(store)),
                        "rows of an \(mode) read model after the backfill and one more append")
                }
            }
        },
        ReadModelStoreContractCheck(name: "readModel.backfill.catchesUpAfterBeingLeftOut") { opener in
            let accounts = ContractAccounts()
            try await withOpenedStore(opener, [accounts]) { store in
                try await appendInPages(store, [ContractAccounts.posting(["a", "b"], 5)], to: "s")
            }
            try await withOpenedStore(opener, []) { store in
                try await appendInPages(store, [ContractAccounts.posting(["a", "c"], 7)], to: "s")
            }
            try await withOpenedStore(opener, [accounts]) { store in
                try await store.waitForReadModel(named: accounts.name, toReach: nil, timeout: .seconds(60))
                try await appendInPages(store, [ContractAccounts.posting(["c"], 1)], to: "s")
                try requireRows(
                    try await allRows(store, accounts.name),
                    try expectedRows(accounts, folding: try await readWholeLog(store)),
                    "rows of a read model registered again after appends without it")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.rebuild.readersNeverSeeAPartialTable") { opener in
            let accounts = ContractAccounts()
            try await withOpenedStore(opener, [accounts]) { store in
                try await appendHistory(store)
                let expected = try expectedRows(accounts, folding: try await readWholeLog(store))
                try requireRows(try await allRows(store, accounts.name), expected, "rows before the rebuild")
                try await requireSuccess("starting a rebuild") { try await store.rebuildReadModel(named: accounts.name) }
                var polls = 0
                while true {
                    _ = try await requireOneOf(store, accounts.name, [expected], "during a rebuild")
                    let status = try await store.readModelStatus(named: accounts.name)
                    try require(status.state != .backfilling, "a rebuild keeps serving the rows (\(status))")
                    if status.state == .live, status.rebuild == nil { break }
                    polls += 1
                    try require(polls < 1_000_000, "the rebuild did not finish: \(status)")
                }
                try requireRows(try await allRows(store, accounts.name), expected, "rows after the rebuild")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.rebuild.versionBumpSwapsAtomically") { opener in
            let first = ContractAccounts()
            let second = ContractAccounts(version: 2, factor: 3)
            let old = try await withOpenedStore(opener, [first]) { store in
                try await appendHistory(store)
                return try expectedRows(first, folding: try await readWholeLog(store))
            }
            try await withOpenedStore(opener, [second]) { store in
                let new = try expectedRows(second, folding: try await readWholeLog(store))
                try require(old != new, "the second version's rows differ from the first's")
                var polls = 0
                while true {
                    let before = try await store.readModelStatus(named: second.name)
                    let table = try await requireOneOf(store, second.name, [old, new], "during a version bump")
                    let after = try await store.readModelStatus(named: second.name)
                    if before.state == .live, before.rebuild == nil, before.servedVersion == 2 {
                        try requireEqual(table == 0 ? "old" : "new", "new", "rows served once version 2 is live")
                        break
                    }
                    try require(
                        table == 0 || after.servedVersion == 2, "the new rows are served only once version 2 is")
                    try require(before.state != .backfilling, "a version bump keeps serving the old rows (\(before))")
                    polls += 1
                    try require(polls < 1_000_000, "the rebuild for version 2 did not finish: \(after)")
                }
                let status = try await store.waitForReadModel(named: second.name, toReach: nil, timeout: .seconds(60))
                try requireEqual(status.servedVersion, 2, "the version served after the bump")
                try requireRows(try await allRows(store, second.name), new, "rows after the version bump")
            }
            try await withOpenedStore(opener, [second]) { store in
                try await store.waitForReadModel(named: second.name, toReach: nil, timeout: .seconds(60))
                let new = try expectedRows(second, folding: try await readWholeLog(store))
                try requireRows(try await allRows(store, second.name), new, "rows after reopening at version 2")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.rebuild.failedRebuildLeavesTheServedRowsKeptUp") { opener in
            // The fold refuses the account "flaky" only while the switch is on: the rows served were built before,
            // so only the rebuild meets the refusal.
            let refusal = ContractRefusal()
            let accounts = ContractAccounts(poison: "flaky", refusal: refusal)
            try await withOpenedStore(opener, [accounts]) { store in
                try await appendInPages(store, [ContractAccounts.posting(["a", "flaky"], 5)], to: "s")
                try await store.waitForReadModel(named: accounts.name, toReach: nil, timeout: .seconds(60))
                refusal.isOn = true
                try await requireSuccess("starting a rebuild that fails") {
                    try await store.rebuildReadModel(named: accounts.name)
                }
                try await requireReadModelError(.failed, "waiting for a rebuild whose projection throws") {
                    try await store.waitForReadModel(named: accounts.name, toReach: nil, timeout: .seconds(60))
                }
                refusal.isOn = false
                // An inline read model folds the append into the rows served before the append returns.
                try await appendInPages(store, [ContractAccounts.posting(["a", "b"], 7)], to: "s")
                try requireRows(
                    try await allRows(store, accounts.name),
                    try expectedRows(accounts, folding: try await readWholeLog(store)),
                    "rows served after a failed rebuild and one more append")
                let status = try await requireSuccess("the status") {
                    try await store.readModelStatus(named: accounts.name)
                }
                try requireEqual(status.state, .failed, "the state after a failed rebuild")
                try require(status.failure != nil, "a failed rebuild's status says what the projection threw")
                try requireEqual(status.servedVersion, 1, "the version served after a failed rebuild")
                try requireEqual(status.position, status.head, "the rows served are kept up after a failed rebuild")
                try requireEqual(status.rebuild?.version, 1, "the status names the version whose build failed")
            }
            // Opening the store again retries the build.
            try await withOpenedStore(opener, [accounts]) { store in
                let status = try await requireSuccess("waiting for the build retried on opening") {
                    try await store.waitForReadModel(named: accounts.name, toReach: nil, timeout: .seconds(60))
                }
                try requireEqual(status.servedVersion, 1, "the version served after the retried build")
                try requireRows(
                    try await allRows(store, accounts.name),
                    try expectedRows(accounts, folding: try await readWholeLog(store)),
                    "rows after the retried build")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.rebuild.failedVersionBumpKeepsTheOldRowsServed") { opener in
            let first = ContractAccounts()
            let second = ContractAccounts(version: 2, factor: 3, poison: "flaky")
            let old = try await withOpenedStore(opener, [first]) { store in
                try await appendInPages(store, [ContractAccounts.posting(["a", "flaky"], 5)], to: "s")
                return try expectedRows(first, folding: try await readWholeLog(store))
            }
            try await withOpenedStore(opener, [second]) { store in
                try await requireReadModelError(.failed, "waiting for a version whose projection throws") {
                    try await store.waitForReadModel(named: second.name, toReach: nil, timeout: .seconds(60))
                }
                try requireRows(try await allRows(store, second.name), old, "rows served after a failed version bump")
                let status = try await requireSuccess("the status") {
                    try await store.readModelStatus(named: second.name)
                }
                try requireEqual(status.state, .failed, "the state after a failed version bump")
                try require(status.failure != nil, "a failed version bump's status says what the projection threw")
                try requireEqual(status.servedVersion, 1, "the version served after a failed version bump")
                try requireEqual(status.rebuild?.version, 2, "the status names the version whose build failed")
            }
        },
    ]
}
