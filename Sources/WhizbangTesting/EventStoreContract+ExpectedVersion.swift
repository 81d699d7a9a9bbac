import Whizbang

extension EventStoreContract {
    /// Each expected version on a stream with no events and on one with events (two of them).
    static let expectedVersionChecks: [EventStoreContractCheck] = [
        EventStoreContractCheck(name: "expectedVersion.any.newStream") { store in
            let result = try await requireAppend(store, makeEvents(3), to: "s", expecting: .any, newVersion: 3)
            try requireEqual(result.positions, 1..<4, "global positions start at 1")
        },
        EventStoreContractCheck(name: "expectedVersion.any.existingStream") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .any, newVersion: 2)
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .any, newVersion: 4)
        },
        EventStoreContractCheck(name: "expectedVersion.noStream.newStream") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
        },
        EventStoreContractCheck(name: "expectedVersion.noStream.existingStream") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            try await requireWrongExpectedVersion(store, makeEvents(1), to: "s", expecting: .noStream, actual: 2)
        },
        EventStoreContractCheck(name: "expectedVersion.streamExists.newStream") { store in
            try await requireWrongExpectedVersion(store, makeEvents(1), to: "s", expecting: .streamExists, actual: 0)
        },
        EventStoreContractCheck(name: "expectedVersion.streamExists.existingStream") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            try await requireAppend(store, makeEvents(1), to: "s", expecting: .streamExists, newVersion: 3)
        },
        EventStoreContractCheck(name: "expectedVersion.exactZero.newStream") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .exact(0), newVersion: 2)
        },
        EventStoreContractCheck(name: "expectedVersion.exactZero.existingStream") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            try await requireWrongExpectedVersion(store, makeEvents(1), to: "s", expecting: .exact(0), actual: 2)
        },
        EventStoreContractCheck(name: "expectedVersion.exact.newStream") { store in
            try await requireWrongExpectedVersion(store, makeEvents(1), to: "s", expecting: .exact(1), actual: 0)
        },
        EventStoreContractCheck(name: "expectedVersion.exact.current") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            try await requireAppend(store, makeEvents(3), to: "s", expecting: .exact(2), newVersion: 5)
            try await requireAppend(store, makeEvents(1), to: "s", expecting: .exact(5), newVersion: 6)
        },
        EventStoreContractCheck(name: "expectedVersion.exact.behind") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            try await requireWrongExpectedVersion(store, makeEvents(1), to: "s", expecting: .exact(1), actual: 2)
        },
        EventStoreContractCheck(name: "expectedVersion.exact.ahead") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            try await requireWrongExpectedVersion(store, makeEvents(1), to: "s", expecting: .exact(3), actual: 2)
            try await requireWrongExpectedVersion(store, makeEvents(1), to: "s", expecting: .exact(.max), actual: 2)
        },
        EventStoreContractCheck(name: "expectedVersion.streamsAreIndependent") { store in
            try await requireAppend(store, makeEvents(2), to: "a", expecting: .noStream, newVersion: 2)
            try await requireAppend(store, makeEvents(1), to: "b", expecting: .noStream, newVersion: 1)
            try await requireAppend(store, makeEvents(1), to: "a", expecting: .exact(2), newVersion: 3)
            try await requireWrongExpectedVersion(store, makeEvents(1), to: "b", expecting: .exact(3), actual: 1)
        },
        EventStoreContractCheck(name: "expectedVersion.conflictWritesNothing") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            let rejected = makeEvents(3, label: "rejected")
            try await requireWrongExpectedVersion(store, rejected, to: "s", expecting: .exact(1), actual: 2)
            let log = try await readWholeLog(store)
            try requireEqual(log.count, 2, "events in the log after a conflict")
            try require(
                !log.contains { event in rejected.contains { $0.eventID == event.eventID } },
                "no event of a rejected append may be stored")
            // The rejected ids were never stored, so they can be appended later.
            try await requireAppend(store, rejected, to: "s", expecting: .exact(2), newVersion: 5)
        },
    ]

    /// Appends of no events: they check the expected version and write nothing.
    static let emptyAppendChecks: [EventStoreContractCheck] = [
        EventStoreContractCheck(name: "emptyAppend.noStream.newStream") { store in
            try await requireAppend(store, [], to: "s", expecting: .noStream, newVersion: 0)
            try requireEqual(try await store.readStream("s", from: 1, direction: .forwards, limit: 10), [], "events")
        },
        EventStoreContractCheck(name: "emptyAppend.any") { store in
            try await requireAppend(store, [], to: "s", expecting: .any, newVersion: 0)
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .any, newVersion: 2)
            try await requireAppend(store, [], to: "s", expecting: .any, newVersion: 2)
        },
        EventStoreContractCheck(name: "emptyAppend.noStream.existingStream") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            try await requireWrongExpectedVersion(store, [], to: "s", expecting: .noStream, actual: 2)
        },
        EventStoreContractCheck(name: "emptyAppend.streamExists") { store in
            try await requireWrongExpectedVersion(store, [], to: "s", expecting: .streamExists, actual: 0)
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            try await requireAppend(store, [], to: "s", expecting: .streamExists, newVersion: 2)
        },
        EventStoreContractCheck(name: "emptyAppend.exact") { store in
            try await requireAppend(store, [], to: "s", expecting: .exact(0), newVersion: 0)
            try await requireWrongExpectedVersion(store, [], to: "s", expecting: .exact(1), actual: 0)
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            try await requireAppend(store, [], to: "s", expecting: .exact(2), newVersion: 2)
            try await requireWrongExpectedVersion(store, [], to: "s", expecting: .exact(1), actual: 2)
            try await requireWrongExpectedVersion(store, [], to: "s", expecting: .exact(3), actual: 2)
        },
    ]
}
