import Whizbang

extension ReadModelStoreContract {
    /// Inline read models: rows visible when the append returns; a throwing projection fails the append.
    static let inlineChecks: [ReadModelStoreContractCheck] = [
        ReadModelStoreContractCheck(name: "readModel.inline.visibleWhenAppendReturns") { opener in
            let accounts = ContractAccounts()
            try await withOpenedStore(opener, [accounts]) { store in
                for round in 1...5 {
                    let events = [
                        ContractAccounts.posting(["x", "y"], round), ContractAccounts.posting(["x"], 2 * round),
                    ]
                    try await appendInPages(store, events, to: StreamID("inline-\(round % 2)"))
                    try requireRows(
                        try await allRows(store, accounts.name),
                        try expectedRows(accounts, folding: try await readWholeLog(store)),
                        "rows right after append \(round)")
                }
                let status = try await requireSuccess("the status") {
                    try await store.readModelStatus(named: accounts.name)
                }
                try requireEqual(status.state, .live, "the state of an inline read model")
                try requireEqual(status.position, try await store.headPosition(), "the position of an inline read model")
                try requireEqual(status.servedVersion, 1, "the version served")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.inline.throwingProjectionFailsTheAppend") { opener in
            let accounts = ContractAccounts(poison: "poison")
            try await withOpenedStore(opener, [accounts]) { store in
                try await appendInPages(store, [ContractAccounts.posting(["ok"], 3)], to: "p")
                let before = try await allRows(store, accounts.name)
                let head = try await store.headPosition()
                try await requireError(.inlineProjectionFailed, "an append the inline projection throws on") {
                    try await store.append(
                        [ContractAccounts.posting(["ok"], 4), ContractAccounts.posting(["ok", "poison"], 5)],
                        to: "p", expectedVersion: .any)
                }
                try await requireNothingWritten(store, head: head, streamID: "p", version: 1)
                try requireRows(try await allRows(store, accounts.name), before, "rows after the failed append")
                try await appendInPages(store, [ContractAccounts.posting(["ok"], 6)], to: "p")
                try requireRows(
                    try await allRows(store, accounts.name),
                    try expectedRows(accounts, folding: try await readWholeLog(store)),
                    "rows after the next append")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.inline.unstorableKeyFailsTheAppend") { opener in
            let accounts = ContractAccounts(spoiled: "spoiled", oversizedIndexAt: 777)
            try await withOpenedStore(opener, [accounts]) { store in
                try await appendInPages(store, [ContractAccounts.posting(["ok"], 3)], to: "p")
                let before = try await allRows(store, accounts.name)
                let head = try await store.headPosition()
                let unstorable: [(String, [EventData])] = [
                    (
                        "a key with a NUL character",
                        [ContractAccounts.posting(["ok"], 4), ContractAccounts.posting(["spoiled"], 5)]
                    ),
                    (
                        "a key one byte too long",
                        [
                            ContractAccounts.posting(
                                [String(repeating: "k", count: ReadModelRow.maximumKeyLength + 1)], 1)
                        ]
                    ),
                    ("an indexed value too long", [ContractAccounts.posting(["ok"], 774)]),
                ]
                for (what, events) in unstorable {
                    try await requireError(.inlineProjectionFailed, "an append whose read model gives \(what)") {
                        try await store.append(events, to: "p", expectedVersion: .any)
                    }
                    try await requireNothingWritten(store, head: head, streamID: "p", version: 1)
                }
                try requireRows(try await allRows(store, accounts.name), before, "rows after the failed appends")
                let longest = String(repeating: "k", count: ReadModelRow.maximumKeyLength)
                try await appendInPages(store, [ContractAccounts.posting(["ok", longest], 6)], to: "p")
                try requireRows(
                    try await allRows(store, accounts.name),
                    try expectedRows(accounts, folding: try await readWholeLog(store)),
                    "rows after an append with the longest key")
                let absent = try await requireSuccess("a row asked for by a key with a NUL character") {
                    try await store.readModelRow(named: accounts.name, key: "ok\u{0}")
                }
                try require(absent == nil, "no row has a key with a NUL character")
                try await requireReadModelError(.invalidQuery, "a query for an indexed value with a NUL character") {
                    try await store.readModelRows(named: accounts.name, matching: .indexed("small\u{0}"))
                }
            }
        },
    ]

    /// Async read models: they catch up; a throwing one fails the read model, never the append.
    static let asyncChecks: [ReadModelStoreContractCheck] = [
        ReadModelStoreContractCheck(name: "readModel.async.catchesUp") { opener in
            let accounts = ContractAccounts(mode: .async)
            try await withOpenedStore(opener, [accounts]) { store in
                for round in 1...20 {
                    try await appendInPages(
                        store, [ContractAccounts.posting(["k\(round % 7)", "all"], round)], to: StreamID("a\(round % 3)"))
                }
                let head = try await store.headPosition()
                let status = try await requireSuccess("waiting for the async read model") {
                    try await store.waitForReadModel(named: accounts.name, toReach: nil, timeout: .seconds(60))
                }
                try requireEqual(status.state, .live, "the state once caught up")
                try require(status.position >= head, "the position once caught up (\(status.position) < \(head))")
                try requireRows(
                    try await allRows(store, accounts.name),
                    try expectedRows(accounts, folding: try await readWholeLog(store)), "rows once caught up")
                try await requireReadModelError(.timedOut, "waiting for a position past the head") {
                    try await store.waitForReadModel(
                        named: accounts.name, toReach: head + 1_000, timeout: .milliseconds(50))
                }
            }
        },
        ReadModelStoreContractCheck(name: "readModel.async.throwingProjectionFailsTheReadModel") { opener in
            let accounts = ContractAccounts(mode: .async, poison: "poison")
            let inline = ContractAccounts(name: "contract-inline")
            try await withOpenedStore(opener, [accounts, inline]) { store in
                try await appendInPages(store, [ContractAccounts.posting(["ok"], 3)], to: "p")
                try await store.waitForReadModel(named: accounts.name, toReach: nil, timeout: .seconds(60))
                let before = try await allRows(store, accounts.name)
                try await appendInPages(store, [ContractAccounts.posting(["poison"], 1)], to: "p")
                try await appendInPages(store, [ContractAccounts.posting(["ok"], 1)], to: "p")
                try requireEqual(try await store.headPosition(), 3, "appends succeed past a failing async read model")
                let error = try await requireReadModelError(.failed, "waiting for a failed read model") {
                    try await store.waitForReadModel(named: accounts.name, toReach: nil, timeout: .seconds(60))
                }
                try requireEqual(error.readModel, accounts.name, "the failed read model's name")
                let status = try await requireSuccess("the status") {
                    try await store.readModelStatus(named: accounts.name)
                }
                try requireEqual(status.state, .failed, "the state after the projection threw")
                try require(status.failure != nil, "a failed status says what the projection threw")
                try require(status.position < 3, "a failed read model did not pass the event it failed on")
                try requireRows(try await allRows(store, accounts.name), before, "rows kept after the failure")
                try requireRows(
                    try await allRows(store, inline.name),
                    try expectedRows(inline, folding: try await readWholeLog(store)),
                    "another read model of the store is not affected")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.async.unstorableKeyFailsOnlyItsReadModel") { opener in
            let spoiled = ContractAccounts(name: "spoiled-accounts", mode: .async, spoiled: "spoiled")
            let healthy = ContractAccounts(name: "healthy-accounts", mode: .async)
            try await withOpenedStore(opener, [spoiled, healthy]) { store in
                let events = [
                    ContractAccounts.posting(["ok"], 1), ContractAccounts.posting(["spoiled"], 2),
                    ContractAccounts.posting(["ok", "spoiled"], 3),
                ]
                try await appendInPages(store, events, to: "p")
                try await requireReadModelError(.failed, "waiting for a read model given a key with a NUL character") {
                    try await store.waitForReadModel(named: spoiled.name, toReach: nil, timeout: .seconds(60))
                }
                let status = try await requireSuccess("the status") {
                    try await store.readModelStatus(named: spoiled.name)
                }
                try requireEqual(status.state, .failed, "the state after the key was refused")
                try require(status.failure?.contains("NUL") == true, "the failure names the NUL character")
                _ = try await requireSuccess("waiting for the other async read model") {
                    try await store.waitForReadModel(named: healthy.name, toReach: nil, timeout: .seconds(60))
                }
                try requireRows(
                    try await allRows(store, healthy.name),
                    try expectedRows(healthy, folding: try await readWholeLog(store)),
                    "the other read model, registered after the failed one, caught up")
            }
        },
    ]

    /// Names: unknown ones are reported, duplicate ones refused at open.
    static let registrationChecks: [ReadModelStoreContractCheck] = [
        ReadModelStoreContractCheck(name: "readModel.registration.unknownName") { opener in
            try await withOpenedStore(opener, [ContractAccounts()]) { store in
                let name = "not-registered"
                try await requireReadModelError(.unknownReadModel, "a row of an unknown read model") {
                    try await store.readModelRow(named: name, key: "a")
                }
                try await requireReadModelError(.unknownReadModel, "rows of an unknown read model") {
                    try await store.readModelRows(named: name, matching: ReadModelQuery())
                }
                try await requireReadModelError(.unknownReadModel, "the status of an unknown read model") {
                    try await store.readModelStatus(named: name)
                }
                try await requireReadModelError(.unknownReadModel, "a rebuild of an unknown read model") {
                    try await store.rebuildReadModel(named: name)
                }
                try await requireReadModelError(.unknownReadModel, "a wait for an unknown read model") {
                    try await store.waitForReadModel(named: name, toReach: nil, timeout: .seconds(5))
                }
            }
        },
        ReadModelStoreContractCheck(name: "readModel.registration.duplicateNameRefused") { opener in
            let error = try await requireReadModelError(.duplicateName, "opening with two read models of one name") {
                try await opener.open([ContractAccounts(), ContractAccounts(mode: .async)])
            }
            try requireEqual(error.readModel, "contract-accounts", "the repeated name")
            try await withOpenedStore(opener, [ContractAccounts()]) { store in
                try requireEqual(try await store.headPosition(), 0, "the refused opening wrote nothing")
            }
        },
        // A name with a NUL character opened on SQLite and made every call of a PostgreSQL store fail (its text keeps
        // no NUL); an empty one opened everywhere. Both are refused by every store now, and nothing is written.
        ReadModelStoreContractCheck(name: "readModel.registration.invalidNameRefused") { opener in
            for name in ["contract\u{0}accounts", ""] {
                let error = try await requireReadModelError(
                    .invalidName, "opening with the name \(name.debugDescription)"
                ) {
                    try await opener.open([ContractAccounts(name: name)])
                }
                try requireEqual(error.readModel, name, "the name refused")
            }
            try await withOpenedStore(opener, [ContractAccounts()]) { store in
                try requireEqual(try await store.headPosition(), 0, "the refused openings wrote nothing")
            }
        },
        ReadModelStoreContractCheck(name: "readModel.registration.versionOutOfRangeRefused") { opener in
            // A date and time as a number: more than a 32-bit version, which not every store could keep as it is.
            let error = try await requireReadModelError(.invalidVersion, "opening with a version past Int32.max") {
                try await opener.open([ContractAccounts(version: 202_612_051_430)])
            }
            try requireEqual(error.readModel, "contract-accounts", "the read model named")
            try await requireReadModelError(.invalidVersion, "opening with version Int32.max, which is kept") {
                try await opener.open([ContractAccounts(version: Int(Int32.max))])
            }
            try await withOpenedStore(opener, [ContractAccounts(version: Int(Int32.max) - 1)]) { store in
                try requireEqual(try await store.headPosition(), 0, "the refused openings wrote nothing")
                let status = try await store.readModelStatus(named: "contract-accounts")
                try requireEqual(status.servedVersion, Int(Int32.max) - 1, "the largest version, kept as it is")
            }
        },
    ]
}
