import Testing
import WhizbangTesting

/// The manual clock's rules: a sleep ends when the time reaches its deadline or when its task is cancelled, and a test
/// can wait for sleeps to start without polling.
@Suite(.timeLimit(.minutes(5)))
struct ManualClockTests {
    @Test func aSleepEndsWhenTheTimeReachesItsDeadlineAndNotBefore() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(10)) }
        await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(9))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        try await sleeper.value
        #expect(clock.sleeperCount == 0)
        #expect(clock.now == ManualClock.Instant(offset: .seconds(10)))
    }

    @Test func aSleepWhoseDeadlineHasPassedReturnsAtOnce() async throws {
        let clock = ManualClock()
        clock.advance(by: .seconds(5))
        try await clock.sleep(until: ManualClock.Instant(offset: .seconds(5)))
        #expect(clock.sleeperCount == 0)
    }

    @Test func cancellingASleepingTaskEndsItsSleepWithCancellationError() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
        await clock.waitForSleepers(count: 1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }

    @Test func sleepersWakeInDeadlineOrder() async throws {
        let clock = ManualClock()
        let order = Recorder<Int>()
        let late = Task {
            try await clock.sleep(for: .seconds(2))
            order.append(2)
        }
        await clock.waitForSleepers(count: 1)
        let early = Task {
            try await clock.sleep(for: .seconds(1))
            order.append(1)
        }
        await clock.waitForSleepers(count: 2)
        clock.advance(by: .seconds(1))
        try await early.value
        clock.advance(by: .seconds(1))
        try await late.value
        #expect(order.elements == [1, 2])
    }
}

/// Waiting for sleepers is bounded by the waiting task's cancellation.
@Suite(.timeLimit(.minutes(5)))
struct ManualClockWaitTests {
    @Test func cancellingATaskWaitingForSleepersEndsItsWait() async {
        let clock = ManualClock()
        let waiter = Task { await clock.waitForSleepers(count: 1) }
        waiter.cancel()
        await waiter.value
        #expect(clock.sleeperCount == 0)
    }
}
