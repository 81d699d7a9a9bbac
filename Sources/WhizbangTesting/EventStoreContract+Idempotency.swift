import Foundation
import Whizbang

extension EventStoreContract {
    /// Retries by event id: what is one, and what is a conflict or a duplicate instead.
    static let idempotencyChecks: [EventStoreContractCheck] = [
        EventStoreContractCheck(name: "idempotency.noStream.sameEvents") { store in
            let events = makeEvents(3)
            let original = try await requireAppend(store, events, to: "s", expecting: .noStream, newVersion: 3)
            try await requireRetry(store, events, to: "s", expecting: .noStream, returns: original)
            try await requireRetry(store, events, to: "s", expecting: .exact(0), returns: original)
        },
        EventStoreContractCheck(name: "idempotency.exact.sameEventsAfterLaterAppends") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            let events = makeEvents(2, label: "retried")
            let original = try await requireAppend(store, events, to: "s", expecting: .exact(2), newVersion: 4)
            try await requireAppend(store, makeEvents(3), to: "other", expecting: .noStream, newVersion: 3)
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .exact(4), newVersion: 6)
            try await requireRetry(store, events, to: "s", expecting: .exact(2), returns: original)
        },
        EventStoreContractCheck(name: "idempotency.prefix") { store in
            let events = makeEvents(3)
            let original = try await requireAppend(store, events, to: "s", expecting: .noStream, newVersion: 3)
            let prefix = AppendResult(streamID: "s", streamVersion: 2, positions: original.positions.lowerBound..<3)
            try await requireRetry(store, Array(events.prefix(2)), to: "s", expecting: .noStream, returns: prefix)
            let first = AppendResult(streamID: "s", streamVersion: 1, positions: original.positions.lowerBound..<2)
            try await requireRetry(store, Array(events.prefix(1)), to: "s", expecting: .noStream, returns: first)
        },
        EventStoreContractCheck(name: "idempotency.prefix.exact") { store in
            try await requireAppend(store, makeEvents(1), to: "s", expecting: .noStream, newVersion: 1)
            let events = makeEvents(3, label: "retried")
            try await requireAppend(store, events, to: "s", expecting: .exact(1), newVersion: 4)
            let prefix = AppendResult(streamID: "s", streamVersion: 3, positions: 2..<4)
            try await requireRetry(store, Array(events.prefix(2)), to: "s", expecting: .exact(1), returns: prefix)
        },
        EventStoreContractCheck(name: "idempotency.extraEvents") { store in
            let events = makeEvents(2)
            try await requireAppend(store, events, to: "s", expecting: .noStream, newVersion: 2)
            try await requireWrongExpectedVersion(
                store, events + makeEvents(1, label: "extra"), to: "s", expecting: .noStream, actual: 2)
        },
        EventStoreContractCheck(name: "idempotency.missingInTheMiddle") { store in
            let events = makeEvents(3)
            try await requireAppend(store, events, to: "s", expecting: .noStream, newVersion: 3)
            try await requireWrongExpectedVersion(
                store, [events[0], events[2]], to: "s", expecting: .noStream, actual: 3)
        },
        EventStoreContractCheck(name: "idempotency.reordered") { store in
            let events = makeEvents(3)
            try await requireAppend(store, events, to: "s", expecting: .noStream, newVersion: 3)
            try await requireWrongExpectedVersion(store, events.reversed(), to: "s", expecting: .noStream, actual: 3)
        },
        EventStoreContractCheck(name: "idempotency.differentEvents") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            try await requireWrongExpectedVersion(
                store, makeEvents(2, label: "different"), to: "s", expecting: .noStream, actual: 2)
        },
        EventStoreContractCheck(name: "idempotency.matchedByIdAlone") { store in
            // An id names one event for good: a resend under the stored ids is a retry whatever it carries, and
            // what was stored first stays.
            let events = makeEvents(2)
            let original = try await requireAppend(store, events, to: "s", expecting: .noStream, newVersion: 2)
            let changed = events.map {
                EventData(
                    eventID: $0.eventID, eventType: "Changed", data: Data(#"{"changed":true}"#.utf8),
                    metadata: $0.metadata)
            }
            try await requireRetry(store, changed, to: "s", expecting: .noStream, returns: original)
            let stored = try await readWholeLog(store)
            try requireEqual(stored.map(\.eventType), ["ContractTested", "ContractTested"], "the stored events' types")
            try requireEqual(stored.map(\.data), events.map(\.data), "the stored events' data")
        },
        EventStoreContractCheck(name: "idempotency.differentExpectedVersion") { store in
            let events = makeEvents(2)
            try await requireAppend(store, events, to: "s", expecting: .noStream, newVersion: 2)
            // The same events expected after version 1 would be at versions 2 and 3, where they are not stored.
            try await requireWrongExpectedVersion(store, events, to: "s", expecting: .exact(1), actual: 2)
            try await requireWrongExpectedVersion(store, [events[0]], to: "s", expecting: .exact(1), actual: 2)
        },
        EventStoreContractCheck(name: "idempotency.resendSpanningAppendsWithGap") { store in
            // Retried events must be contiguous in the global log, since a result has one range of positions.
            let first = makeEvents(1, label: "first")
            let second = makeEvents(1, label: "second")
            try await requireAppend(store, first, to: "s", expecting: .noStream, newVersion: 1)
            try await requireAppend(store, makeEvents(1), to: "other", expecting: .noStream, newVersion: 1)
            try await requireAppend(store, second, to: "s", expecting: .exact(1), newVersion: 2)
            try await requireWrongExpectedVersion(store, first + second, to: "s", expecting: .noStream, actual: 2)
        },
        EventStoreContractCheck(name: "idempotency.any.sameEvents") { store in
            let events = makeEvents(3)
            let original = try await requireAppend(store, events, to: "s", expecting: .any, newVersion: 3)
            try await requireRetry(store, events, to: "s", expecting: .any, returns: original)
            try await requireAppend(store, makeEvents(1), to: "s", expecting: .any, newVersion: 4)
            try await requireRetry(store, events, to: "s", expecting: .any, returns: original)
        },
        EventStoreContractCheck(name: "idempotency.any.storedRun") { store in
            let events = makeEvents(4)
            try await requireAppend(store, events, to: "s", expecting: .any, newVersion: 4)
            let middle = AppendResult(streamID: "s", streamVersion: 3, positions: 2..<4)
            try await requireRetry(store, Array(events[1...2]), to: "s", expecting: .any, returns: middle)
            let tail = AppendResult(streamID: "s", streamVersion: 4, positions: 4..<5)
            try await requireRetry(store, [events[3]], to: "s", expecting: .any, returns: tail)
        },
        EventStoreContractCheck(name: "idempotency.any.partlyStored") { store in
            let events = makeEvents(2)
            try await requireAppend(store, events, to: "s", expecting: .any, newVersion: 2)
            try await requireWrongExpectedVersion(
                store, events + makeEvents(1, label: "new"), to: "s", expecting: .any, actual: 2)
            try await requireWrongExpectedVersion(store, events.reversed(), to: "s", expecting: .any, actual: 2)
        },
        EventStoreContractCheck(name: "idempotency.streamExists.sameEvents") { store in
            try await requireAppend(store, makeEvents(1), to: "s", expecting: .noStream, newVersion: 1)
            let events = makeEvents(2, label: "retried")
            let original = try await requireAppend(store, events, to: "s", expecting: .streamExists, newVersion: 3)
            try await requireRetry(store, events, to: "s", expecting: .streamExists, returns: original)
        },
        EventStoreContractCheck(name: "idempotency.concurrentRetries") { store in
            let events = makeEvents(3)
            let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await store.append(events, to: "s", expectedVersion: .noStream) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let expected = AppendResult(streamID: "s", streamVersion: 3, positions: 1..<4)
            try require(results.allSatisfy { $0 == expected }, "every racing retry returns \(expected): \(results)")
            try requireEqual(try await store.headPosition(), 3, "the head after racing retries")
        },
        EventStoreContractCheck(name: "duplicateEventID.sameStream") { store in
            let events = makeEvents(2)
            try await requireAppend(store, events, to: "s", expecting: .noStream, newVersion: 2)
            try await requireDuplicate(store, [events[0]], to: "s", expecting: .exact(2), version: 2)
            try await requireDuplicate(store, makeEvents(1) + [events[1]], to: "s", expecting: .exact(2), version: 2)
            try await requireDuplicate(store, makeEvents(1) + [events[0]], to: "s", expecting: .any, version: 2)
        },
        EventStoreContractCheck(name: "duplicateEventID.otherStream") { store in
            let events = makeEvents(2)
            try await requireAppend(store, events, to: "a", expecting: .noStream, newVersion: 2)
            try await requireDuplicate(store, [events[0]], to: "b", expecting: .noStream, version: 0)
            try await requireDuplicate(store, [events[1]], to: "b", expecting: .any, version: 0)
            try await requireAppend(store, makeEvents(1), to: "b", expecting: .noStream, newVersion: 1)
            try await requireDuplicate(store, events, to: "b", expecting: .streamExists, version: 1)
            try await requireDuplicate(store, makeEvents(1) + [events[1]], to: "b", expecting: .exact(1), version: 1)
        },
    ]
}

/// Appends events that are already stored, expecting the original result and nothing written.
func requireRetry(
    _ store: any EventStore,
    _ events: [EventData],
    to streamID: StreamID,
    expecting expectedVersion: ExpectedVersion,
    returns original: AppendResult,
    file: String = #fileID,
    line: Int = #line
) async throws {
    let what = "retry of \(events.count) events to '\(streamID)' with \(expectedVersion)"
    let head = try await store.headPosition()
    let version = try await store.streamVersion(of: streamID)
    let result = try await requireSuccess(what, file: file, line: line) {
        try await store.append(events, to: streamID, expectedVersion: expectedVersion)
    }
    try requireEqual(result, original, "\(what): the result", file: file, line: line)
    try await requireNothingWritten(store, head: head, streamID: streamID, version: version, file: file, line: line)
}

/// Appends, expecting `EventStoreError/Code/duplicateEventID` and nothing written.
private func requireDuplicate(
    _ store: any EventStore,
    _ events: [EventData],
    to streamID: StreamID,
    expecting expectedVersion: ExpectedVersion,
    version: UInt64,
    file: String = #fileID,
    line: Int = #line
) async throws {
    let what = "append of stored event ids to '\(streamID)' with \(expectedVersion)"
    let head = try await store.headPosition()
    try await requireError(.duplicateEventID, what, file: file, line: line) {
        try await store.append(events, to: streamID, expectedVersion: expectedVersion)
    }
    try await requireNothingWritten(store, head: head, streamID: streamID, version: version, file: file, line: line)
}
