import Testing
import Whizbang

/// `AppendSignal` wakes every waiter whose position the head passes, including waiters racing with the advance.
@Suite struct AppendSignalTests {
    @Test func waitReturnsAtOnceWhenTheHeadIsPast() async throws {
        let signal = AppendSignal(head: 5)
        try await signal.wait(after: 4)
        #expect(signal.head == 5)
        signal.advance(to: 3)
        #expect(signal.head == 5, "a lower position is ignored")
    }

    @Test(.timeLimit(.minutes(5))) func advanceWakesTheWaitersItPasses() async throws {
        let signal = AppendSignal()
        try await withThrowingTaskGroup(of: UInt64.self) { group in
            for position in [UInt64(0), 1, 2] {
                group.addTask {
                    try await signal.wait(after: position)
                    return position
                }
            }
            signal.advance(to: 3)
            var woken: Set<UInt64> = []
            for try await position in group { woken.insert(position) }
            #expect(woken == [0, 1, 2])
        }
    }

    /// Each round starts a waiter and an advance at the same time; a lost wake-up would hang the test.
    @Test(.timeLimit(.minutes(5))) func noWakeUpIsLostWhenWaitAndAdvanceRace() async throws {
        let signal = AppendSignal()
        for round in UInt64(0)..<2_000 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await signal.wait(after: round) }
                group.addTask { signal.advance(to: round + 1) }
                try await group.waitForAll()
            }
        }
        #expect(signal.head == 2_000)
    }

    @Test(.timeLimit(.minutes(5))) func closeFailsWaiters() async throws {
        let signal = AppendSignal()
        let waiter = Task { try await signal.wait(after: 0) }
        signal.close()
        await #expect(throws: EventStoreError.self) { try await waiter.value }
        await #expect(throws: EventStoreError.self) { try await signal.wait(after: 10) }
    }

    @Test(.timeLimit(.minutes(5))) func cancellingAWaiterLeavesTheOthers() async throws {
        let signal = AppendSignal()
        let cancelled = Task { try await signal.wait(after: 0) }
        let kept = Task { try await signal.wait(after: 0) }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        signal.advance(to: 1)
        try await kept.value
    }
}
