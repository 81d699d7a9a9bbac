import Synchronization
import Whizbang

extension EventStoreContract {
    /// Racing appends, parallel streams, subscriptions and waiting, all without sleeps.
    static let concurrencyChecks: [EventStoreContractCheck] = [
        EventStoreContractCheck(name: "concurrency.racingExactAppends") { store in
            let racers = 50
            var winners: [EventData] = []
            for round in 0..<5 {
                let version = UInt64(round)
                let outcomes = try await withThrowingTaskGroup(
                    of: (EventData, Result<AppendResult, EventStoreError>).self
                ) { group in
                    for racer in 0..<racers {
                        group.addTask {
                            let event = makeEvents(1, label: "round \(round) racer \(racer)")[0]
                            do {
                                let result = try await store.append(
                                    [event], to: "race", expectedVersion: .exact(version))
                                return (event, .success(result))
                            } catch let error as EventStoreError {
                                return (event, .failure(error))
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let won = outcomes.filter { if case .success = $0.1 { true } else { false } }
                try requireEqual(won.count, 1, "appends that won the race for version \(version + 1)")
                for (event, outcome) in outcomes {
                    switch outcome {
                    case .success(let result):
                        try requireEqual(result.streamVersion, version + 1, "the winner's new version")
                        winners.append(event)
                    case .failure(let error):
                        try requireEqual(error.code, .wrongExpectedVersion, "a losing racer's error code")
                        try requireErrorContext(error, streamID: "race", expected: .exact(version), actual: version + 1)
                    }
                }
            }
            let stored = try await store.readStream("race", from: 1, direction: .forwards, limit: 100)
            try requireStored(stored, match: winners, in: "race", fromVersion: 1)
            try requireEqual(try await readWholeLog(store).map(\.position), Array(1...5), "global positions")
        },
        EventStoreContractCheck(name: "concurrency.parallelStreams") { store in
            let streamCount = 1_000
            let appended = try await withThrowingTaskGroup(of: (StreamID, [EventData], AppendResult).self) { group in
                for index in 0..<streamCount {
                    group.addTask {
                        let streamID = StreamID("parallel-\(index)")
                        let events = makeEvents(2, label: streamID.rawValue)
                        let result = try await store.append(events, to: streamID, expectedVersion: .noStream)
                        return (streamID, events, result)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let total = UInt64(streamCount * 2)
            try requireEqual(try await store.headPosition(), total, "the head after parallel appends")
            let log = try await readWholeLog(store)
            try requireEqual(log.map(\.position), Array(1...total), "global positions, unique and contiguous")
            for (streamID, events, result) in appended {
                try requireEqual(result.streamVersion, 2, "the new version of '\(streamID)'")
                try requireEqual(result.positions.count, 2, "positions of the append to '\(streamID)'")
                try require(
                    result.positions.allSatisfy { (1...total).contains($0) },
                    "positions \(result.positions) of the append to '\(streamID)' lie in the log (1...\(total))")
                let stored = result.positions.map { log[Int($0) - 1] }
                try requireStored(stored, match: events, in: streamID, fromVersion: 1)
            }
        },
        EventStoreContractCheck(name: "subscription.acrossCatchUpAndLive") { store in
            for batch in 0..<20 {
                let events = makeEvents(3, label: "before \(batch)")
                _ = try await store.append(events, to: StreamID("pre-\(batch % 3)"), expectedVersion: .any)
            }
            let start: UInt64 = 30
            let (progress, reporter) = AsyncStream.makeStream(of: UInt64.self)
            var positions = progress.makeAsyncIterator()
            try await withThrowingTaskGroup(of: [RecordedEvent].self) { group in
                group.addTask {
                    defer { reporter.finish() }
                    return try await subscriptionEvents(store, after: start, batchSize: 7, count: 90) {
                        reporter.yield($0.position)
                    }
                }
                // Appended while the subscription catches up, in a race with it.
                for batch in 0..<20 {
                    let events = makeEvents(2, label: "racing \(batch)")
                    _ = try await store.append(events, to: StreamID("live-\(batch % 4)"), expectedVersion: .any)
                }
                try await waitUntil(&positions, reach: 100, orFailureOf: &group)
                // Appended one at a time once the subscription has caught up, so each crosses into the live phase.
                for index in 0..<20 {
                    let events = makeEvents(1, label: "live \(index)")
                    let result = try await store.append(events, to: "live", expectedVersion: .any)
                    try await waitUntil(&positions, reach: result.positions.upperBound - 1, orFailureOf: &group)
                }
                let received = try await group.next() ?? []
                let expected = try await store.readAll(after: start, limit: 1_000)
                try requireEqual(
                    received.map(\.position), Array(start + 1...120), "positions the subscription delivered")
                try requireEqual(received, expected, "events the subscription delivered")
            }
        },
        EventStoreContractCheck(name: "subscription.liveFromEmptyStore") { store in
            let (progress, reporter) = AsyncStream.makeStream(of: UInt64.self)
            var positions = progress.makeAsyncIterator()
            try await withThrowingTaskGroup(of: [RecordedEvent].self) { group in
                group.addTask {
                    defer { reporter.finish() }
                    return try await subscriptionEvents(store, after: 0, batchSize: 512, count: 10) {
                        reporter.yield($0.position)
                    }
                }
                var appended: [EventData] = []
                for index in 0..<5 {
                    let events = makeEvents(2, label: "live \(index)")
                    _ = try await store.append(events, to: "s", expectedVersion: .exact(UInt64(index * 2)))
                    appended += events
                    try await waitUntil(&positions, reach: UInt64(index * 2 + 2), orFailureOf: &group)
                }
                let received = try await group.next() ?? []
                try requireStored(received, match: appended, in: "s", fromVersion: 1)
                try requireEqual(received.map(\.position), Array(1...10), "positions the subscription delivered")
            }
        },
        EventStoreContractCheck(name: "waitForEvents.returnsWhenPassed") { store in
            _ = try await store.append(makeEvents(2), to: "s", expectedVersion: .noStream)
            try await store.waitForEvents(after: 0)
            try await store.waitForEvents(after: 1)
        },
        EventStoreContractCheck(name: "waitForEvents.wokenByAppend") { store in
            _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .noStream)
            // `Task.immediate` runs the waiter up to its first suspension before the append; a store that answers
            // "passed" for the head itself would return there, and is caught before anything is appended.
            let returned = ReturnFlag()
            let waiter = Task.immediate {
                try await store.waitForEvents(after: 1)
                returned.set()
            }
            try requireEqual(returned.isSet, false, "waitForEvents(after: 1) returned while the head was 1")
            _ = try await store.append(makeEvents(1), to: "other", expectedVersion: .noStream)
            try await requireSuccess("waitForEvents(after: 1) after an append at 2") {
                try await valueCancellingWithCaller(waiter)
            }
        },
        EventStoreContractCheck(name: "waitForEvents.cancellation") { store in
            _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .noStream)
            let early = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await store.waitForEvents(after: 1)
            }
            try await requireCancellation(early, "waitForEvents in a task cancelled before it waits")
            let waiting = Task.immediate { try await store.waitForEvents(after: 1) }
            waiting.cancel()
            try await requireCancellation(waiting, "waitForEvents in a task cancelled while it waits")
        },
    ]
}

/// The first `count` events of a subscription after `position`, reporting each as it arrives.
private func subscriptionEvents<Store: EventStore>(
    _ store: Store,
    after position: UInt64,
    batchSize: Int,
    count: Int,
    onEvent: (RecordedEvent) -> Void
) async throws -> [RecordedEvent] {
    var received: [RecordedEvent] = []
    for try await event in store.subscribe(after: position, batchSize: batchSize) {
        received.append(event)
        onEvent(event)
        if received.count == count { break }
    }
    return received
}

/// Consumes reported positions until one reaches `target`; fails if the reports end first.
private func waitUntil(
    _ positions: inout AsyncStream<UInt64>.Iterator,
    reach target: UInt64,
    file: String = #fileID,
    line: Int = #line
) async throws(ContractViolation) {
    while let position = await positions.next() {
        if position >= target { return }
    }
    throw ContractViolation("the subscription ended before delivering position \(target)", file: file, line: line)
}

/// Waits as ``waitUntil(_:reach:file:line:)`` does; when the subscription's task ended first because it threw, throws
/// that task's error rather than "the subscription ended".
private func waitUntil(
    _ positions: inout AsyncStream<UInt64>.Iterator,
    reach target: UInt64,
    orFailureOf group: inout ThrowingTaskGroup<[RecordedEvent], any Error>,
    file: String = #fileID,
    line: Int = #line
) async throws {
    do {
        try await waitUntil(&positions, reach: target, file: file, line: line)
    } catch {
        _ = try await group.next()
        throw error
    }
}

/// Waits for `task`, failing unless it throws `CancellationError`.
private func requireCancellation<Success>(
    _ task: Task<Success, any Error>,
    _ what: String,
    file: String = #fileID,
    line: Int = #line
) async throws(ContractViolation) {
    do {
        let value = try await valueCancellingWithCaller(task)
        throw ContractViolation("\(what): expected CancellationError, it returned \(value)", file: file, line: line)
    } catch is CancellationError {
        return
    } catch let violation as ContractViolation {
        throw violation
    } catch {
        throw ContractViolation("\(what): expected CancellationError, got \(error)", file: file, line: line)
    }
}

/// The value of an unstructured task, cancelling it if the caller is cancelled first (as a time limit does), so a
/// store that never wakes it fails the check instead of hanging it.
private func valueCancellingWithCaller<Success>(_ task: Task<Success, any Error>) async throws -> Success {
    try await withTaskCancellationHandler {
        try await task.value
    } onCancel: {
        task.cancel()
    }
}

/// Set once by the task that owns it; read by the test.
private final class ReturnFlag: Sendable {
    private let value = Atomic<Bool>(false)

    func set() { value.store(true, ordering: .sequentiallyConsistent) }

    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}
