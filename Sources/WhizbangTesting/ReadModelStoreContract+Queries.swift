import Whizbang

extension ReadModelStoreContract {
    /// Keys whose UTF-8 order differs from their order as UTF-16 or as case-folded text.
    static let orderedKeys = ["B", "a", "a0", "ab", "b", "z", "é", "\u{FF61}", "\u{1F600}"]

    /// Queries by key, key range, indexed value and pages, in UTF-8 key order; rows deleted by the fold.
    static let queryChecks: [ReadModelStoreContractCheck] = [
        ReadModelStoreContractCheck(name: "readModel.query.byKey") { opener in
            let accounts = ContractAccounts()
            try await withOpenedStore(opener, [accounts]) { store in
                for (offset, key) in orderedKeys.enumerated() {
                    try await appendInPages(store, [ContractAccounts.posting([key], offset * 30 + 1)], to: "q")
                }
                let expected = try expectedRows(accounts, folding: try await readWholeLog(store))
                for row in expected {
                    let stored = try await requireSuccess("reading row '\(row.key)'") {
                        try await store.readModelRow(named: accounts.name, key: row.key)
                    }
                    guard let stored else { throw ContractViolation("row '\(row.key)' is missing") }
                    try requireRows(
                        try decodedRows([stored], as: ContractAccounts.Row.self), [row], "row '\(row.key)'")
                }
                let missing = try await requireSuccess("reading a missing key") {
                    try await store.readModelRow(named: accounts.name, key: "missing")
                }
                try require(missing == nil, "a key without a row reads as nil, got \(String(describing: missing))")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.keys.byteExact") { opener in
            // "café" spelled two ways: precomposed, and with a combining accent. Swift's `String` finds them equal;
            // a store keeps them as two keys, inline and in a rebuild's batches alike.
            let composed = "caf\u{E9}"
            let decomposed = "cafe\u{301}"
            let accounts = ContractAccounts()
            try await withOpenedStore(opener, [accounts]) { store in
                try await appendInPages(
                    store,
                    [
                        ContractAccounts.posting([composed], 100), ContractAccounts.posting([decomposed], 5),
                        ContractAccounts.posting([composed, decomposed], 1),
                    ], to: "k")
                let expected = [
                    ExpectedRow(
                        key: decomposed, indexValue: "small", position: 3,
                        value: ContractAccounts.Row(balance: 6, entries: 2)),
                    ExpectedRow(
                        key: composed, indexValue: "large", position: 3,
                        value: ContractAccounts.Row(balance: 101, entries: 2)),
                ]
                try requireRows(try await allRows(store, accounts.name), expected, "rows folded inline")
                for row in expected {
                    let stored = try await requireSuccess("reading row '\(row.key)'") {
                        try await store.readModelRow(named: accounts.name, key: row.key)
                    }
                    guard let stored else { throw ContractViolation("row '\(row.key)' is missing") }
                    try requireRows(
                        try decodedRows([stored], as: ContractAccounts.Row.self), [row], "row '\(row.key)' by its key")
                }
                try await requireSuccess("starting a rebuild") {
                    try await store.rebuildReadModel(named: accounts.name)
                }
                _ = try await requireSuccess("waiting for the rebuild") {
                    try await store.waitForReadModel(named: accounts.name, toReach: nil, timeout: .seconds(60))
                }
                try requireRows(try await allRows(store, accounts.name), expected, "rows after the rebuild")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.query.utf8Order") { opener in
            let accounts = ContractAccounts()
            try await withOpenedStore(opener, [accounts]) { store in
                for key in orderedKeys.reversed() {
                    try await appendInPages(store, [ContractAccounts.posting([key], 5)], to: "q")
                }
                try requireEqual(
                    try await allRows(store, accounts.name).map(\.key), orderedKeys, "keys in UTF-8 byte order")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.query.rangeIndexAndPages") { opener in
            let accounts = ContractAccounts()
            try await withOpenedStore(opener, [accounts]) { store in
                for (offset, key) in orderedKeys.enumerated() {
                    try await appendInPages(
                        store, [ContractAccounts.posting([key], offset % 2 == 0 ? 150 : 20)], to: "q")
                }
                try await appendInPages(store, [ContractAccounts.posting(["negative"], -5)], to: "q")
                let expected = try expectedRows(accounts, folding: try await readWholeLog(store))
                let queries: [ReadModelQuery] = [
                    ReadModelQuery(),
                    .keys(from: "a", before: "b"),
                    .keys(from: nil, before: "a"),
                    .keys(from: "b", before: nil),
                    .keys(from: "a0", before: "a0"),
                    .keys(from: "z", before: "a"),
                    .keys(from: "a", before: "\u{FF61}", limit: 3),
                    .keys(from: "a", before: "\u{FF61}", after: "ab"),
                    .indexed("large"),
                    .indexed("small"),
                    .indexed("none"),
                    .indexed("large", limit: 2, after: "a0"),
                    { var query = ReadModelQuery.indexed("large"); query.keysFrom = "b"; return query }(),
                ]
                for query in queries {
                    let rows = try await requireSuccess("query \(query)") {
                        try await store.readModelRows(named: accounts.name, matching: query)
                    }
                    let wanted = Array(expected.filter { query.matches($0.stored) }.prefix(query.limit))
                    try requireRows(try decodedRows(rows, as: ContractAccounts.Row.self), wanted, "query \(query)")
                }
                for pageSize in [1, 2, 4] {
                    var pages: [ExpectedRow<ContractAccounts.Row>] = []
                    var after: String?
                    for _ in 0...expected.count {
                        var query = ReadModelQuery(limit: pageSize)
                        query.after = after
                        let page = try await requireSuccess("page after \(String(describing: after))") {
                            try await store.readModelRows(named: accounts.name, matching: query)
                        }
                        try require(page.count <= pageSize, "a page holds at most \(pageSize) rows")
                        if page.isEmpty { break }
                        pages += try decodedRows(page, as: ContractAccounts.Row.self)
                        after = page.last?.key
                    }
                    try requireRows(pages, expected, "every row read in pages of \(pageSize)")
                }
            }
        },
        ReadModelStoreContractCheck(name: "readModel.query.deletedRow") { opener in
            let accounts = ContractAccounts()
            try await withOpenedStore(opener, [accounts]) { store in
                try await appendInPages(
                    store, [ContractAccounts.posting(["gone", "kept"], 10), ContractAccounts.posting(["gone"], -10)],
                    to: "d")
                let gone = try await requireSuccess("reading a deleted row") {
                    try await store.readModelRow(named: accounts.name, key: "gone")
                }
                try require(gone == nil, "a row the fold returned nil for is deleted, got \(String(describing: gone))")
                try requireEqual(try await allRows(store, accounts.name).map(\.key), ["kept"], "rows left")
                try await appendInPages(store, [ContractAccounts.posting(["gone"], 7)], to: "d")
                let back = try await allRows(store, accounts.name)
                try requireRows(
                    back, try expectedRows(accounts, folding: try await readWholeLog(store)),
                    "a deleted row that comes back")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.query.invalidLimit") { opener in
            let accounts = ContractAccounts()
            try await withOpenedStore(opener, [accounts]) { store in
                for limit in [0, -1, ReadModelQuery.maximumLimit + 1] {
                    try await requireReadModelError(.invalidQuery, "a query with limit \(limit)") {
                        try await store.readModelRows(named: accounts.name, matching: ReadModelQuery(limit: limit))
                    }
                }
                _ = try await requireSuccess("a query with the largest limit") {
                    try await store.readModelRows(
                        named: accounts.name, matching: ReadModelQuery(limit: ReadModelQuery.maximumLimit))
                }
            }
        },
    ]
}
