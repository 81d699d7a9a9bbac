import Whizbang

extension EventStoreContract {
    /// Cancellation is final: once the task iterating a subscription is cancelled, the next `next()` returns `nil`,
    /// even with events still buffered, and so does every later call.
    static let cancellationChecks: [EventStoreContractCheck] = [
        EventStoreContractCheck(name: "cancellation.subscriptionEndsWithBufferedEvents") { store in
            try await requireAppend(store, makeEvents(5), to: "s", expecting: .noStream, newVersion: 5)
            let positions = try await Task { try await positionsAroundCancellation(store, waitForCancellation: nil) }
                .value
            try requireEqual(positions[0], 1, "the first event before cancellation")
            try requireEqual(positions[1], nil, "next() after cancellation, with four events buffered")
            try requireEqual(positions[2], nil, "next() called again after cancellation")
        },
        EventStoreContractCheck(name: "cancellation.subscriptionEndsWhileWaiting") { store in
            try await requireAppend(store, makeEvents(1), to: "s", expecting: .noStream, newVersion: 1)
            let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
            let subscriber = Task {
                // Finished however the reads end: a subscription that fails at once ends the wait below, and the
                // error comes out of `subscriber.value`, instead of a wait for a signal that never comes.
                defer { startedContinuation.finish() }
                return try await positionsAroundCancellation(store, waitForCancellation: startedContinuation)
            }
            for await _ in started { break }
            subscriber.cancel()
            let positions = try await subscriber.value
            try requireEqual(positions[0], 1, "the first event before cancellation")
            try requireEqual(positions[1], nil, "next() that was waiting when the task was cancelled")
            try requireEqual(positions[2], nil, "next() called again after cancellation")
        },
    ]
}

/// Reads one event of a subscription from the start, then the next two after the task is cancelled: by the task
/// itself when `started` is `nil`, otherwise by whoever `started` tells that the first event was read (the
/// subscription has caught up then, so the second read waits for a commit that never comes).
private func positionsAroundCancellation<Store: EventStore>(
    _ store: Store,
    waitForCancellation started: AsyncStream<Void>.Continuation?
) async throws -> [UInt64?] {
    var iterator = store.subscribe(after: 0, batchSize: 5).makeAsyncIterator()
    let first = try await iterator.next()
    if let started {
        started.yield()
    } else {
        withUnsafeCurrentTask { $0?.cancel() }
    }
    let afterCancellation = try await iterator.next()
    let later = try await iterator.next()
    return [first?.position, afterCancellation?.position, later?.position]
}
