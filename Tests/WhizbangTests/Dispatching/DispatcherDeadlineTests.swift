import Testing
import WhizbangTesting

@testable import Whizbang

/// Per-call time limits, the dispatcher's injected clock, and the dispatcher's own error once it is shut down. Time is
/// a `ManualClock` the tests advance by hand: nothing here waits in real time.
@Suite(.timeLimit(.minutes(5)))
struct DispatcherDeadlineTests {
    private func makeDispatcher<Store: EventStore>(
        clock: ManualClock,
        store: Store = InMemoryEventStore(),
        policies: PolicySet = PolicySet()
    ) -> Dispatcher<Store> {
        var configuration = DispatcherConfiguration()
        configuration.clock = clock
        configuration.policies = policies
        return Dispatcher(store: store, configuration: configuration)
    }

    /// Holds stream `key`'s lane, as a long command would, until `proceed` opens.
    private func holdLane(
        _ key: StreamID,
        of dispatcher: Dispatcher<some EventStore>,
        until proceed: TestGate
    ) async -> Task<Int, any Error> {
        let started = TestGate()
        let holder = Task {
            try await dispatcher.lanes.run(key: key) { () async throws -> Int in
                started.open()
                await proceed.wait()
                return 1
            }
        }
        await started.wait()
        return holder
    }

    @Test func aCommandStillQueuedAtItsTimeLimitNeverStarts() async throws {
        let clock = ManualClock()
        let dispatcher = makeDispatcher(clock: clock)
        let accounts = dispatcher.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(0), to: "a")
        let proceed = TestGate()
        let holder = await holdLane("a", of: dispatcher, until: proceed)
        let send = Task { try await accounts.send(.deposit(5), to: "a", timeout: .seconds(5)) }
        await clock.waitForSleepers(count: 1)
        await yield { dispatcher.queueDepths.serialCommands == 1 }
        clock.advance(by: .seconds(5))
        await #expect { _ = try await send.value } throws: { error in
            let error = error as? DispatchError
            return error?.code == .deadlineExceeded && error?.commandStarted == false && error?.timeout == .seconds(5)
        }
        // The caller left the lane's queue: the lane's next user is not behind it, and nothing was written.
        #expect(dispatcher.queueDepths.serialCommands == 0)
        proceed.open()
        #expect(try await holder.value == 1)
        #expect(try await dispatcher.store.streamVersion(of: "a") == 1)
        #expect(try await accounts.send(.deposit(1), to: "a").streamVersion == 2)
    }

    @Test func aHandlerCancelledByItsTimeLimitReportsAnUnknownOutcome() async throws {
        let clock = ManualClock()
        let dispatcher = makeDispatcher(clock: clock)
        let elsewhere = ManualClock()
        let call = Task {
            try await dispatcher.invoke(MessageEnvelope(message: "slow"), timeout: .seconds(2)) { _ in
                // A handler that waits for something that only ends with its cancellation.
                try await elsewhere.sleep(for: .seconds(3_600))
                return 1
            }
        }
        await elsewhere.waitForSleepers(count: 1)
        await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(2))
        await #expect { _ = try await call.value } throws: { error in
            let error = error as? DispatchError
            return error?.code == .deadlineExceeded && error?.commandStarted == true
        }
    }

    @Test func aHandlerThatFinishesAfterItsTimeLimitReportsItsResult() async throws {
        let clock = ManualClock()
        let dispatcher = makeDispatcher(clock: clock)
        let cancelled = TestGate()
        let proceed = TestGate()
        let call = Task {
            try await dispatcher.invoke(MessageEnvelope(message: "stubborn"), timeout: .seconds(2)) { _ in
                // Ignores its cancellation and finishes: what it did stands, so the caller gets its result.
                await withTaskCancellationHandler {
                    await proceed.wait()
                } onCancel: {
                    cancelled.open()
                }
                return 42
            }
        }
        await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(2))
        await cancelled.wait()
        proceed.open()
        #expect(try await call.value == 42)
    }

    @Test func aCallThatFinishesInTimeIsUnaffectedAndLeavesNoTimer() async throws {
        let clock = ManualClock()
        let dispatcher = makeDispatcher(clock: clock)
        let accounts = dispatcher.aggregate(BankAccount.self)
        let result = try await accounts.send(.open(7), to: "a", timeout: .seconds(1))
        #expect(result.streamVersion == 1)
        #expect(clock.sleeperCount == 0)
        #expect(try await dispatcher.invoke(MessageEnvelope(message: "quick"), timeout: .seconds(1)) { _ in 3 } == 3)
        #expect(clock.sleeperCount == 0)
    }

    /// `Task.immediate` runs each send up to its first suspension; with a time limit the send's child task is started
    /// with `addImmediateTask`, so it still takes its place on the lane there and the order is the call order.
    @Test func pipelinedCommandsWithTimeLimitsApplyInSendOrder() async throws {
        let dispatcher = makeDispatcher(clock: ManualClock())
        let accounts = dispatcher.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(0), to: "a")
        let sends = (1...1_000).map { amount in
            Task.immediate { try await accounts.send(.deposit(amount), to: "a", timeout: .seconds(60)) }
        }
        for (index, send) in sends.enumerated() {
            #expect(try await send.value.events == [.deposited(.init(amount: index + 1))])
        }
    }

    @Test func thePolicyTimeLimitIsMeasuredOnTheConfiguredClock() async throws {
        let clock = ManualClock()
        let dispatcher = makeDispatcher(
            clock: clock, policies: PolicySet(rules: [.messageType("String", timeout: .seconds(30))]))
        let elsewhere = ManualClock()
        let call = Task {
            try await dispatcher.invoke(MessageEnvelope(message: "slow")) { _ in
                try await elsewhere.sleep(for: .seconds(3_600))
                return 1
            }
        }
        await elsewhere.waitForSleepers(count: 1)
        await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(30))
        await #expect { _ = try await call.value } throws: { ($0 as? DispatchError)?.code == .timedOut }
    }

    /// A command whose append was under way at the policy's time limit and committed anyway reports its result, as a
    /// per-call time limit does: a command result exists only once its events are stored. Before, the caller got
    /// `timedOut` (outcome unknown) for a command whose events were in the log.
    @Test func aCommandThatCommitsAfterThePolicyTimeLimitReportsItsResult() async throws {
        let clock = ManualClock()
        let store = GatedAppendStore()
        let dispatcher = makeDispatcher(
            clock: clock, store: store,
            policies: PolicySet(rules: [.messageType("BankAccount.Command", timeout: .seconds(30))]))
        let accounts = dispatcher.aggregate(BankAccount.self)
        let call = Task { try await accounts.send(.open(5), to: "a") }
        await store.appendArrived.wait()
        await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(30))
        // The limit has passed and cancelled the command before its append commits.
        await store.appendCancelled.wait()
        store.releaseAppends.open()
        let result = try await call.value
        #expect(result.streamVersion == 1)
        #expect(try await store.streamVersion(of: "a") == 1)
    }

    /// A command whose append stops at the policy's time limit (the store gave up on cancellation) fails with
    /// `timedOut`, and nothing is stored.
    @Test func aCommandStoppedByThePolicyTimeLimitFailsWithTimedOut() async throws {
        let clock = ManualClock()
        let store = CancellableAppendStore()
        let dispatcher = makeDispatcher(
            clock: clock, store: store,
            policies: PolicySet(rules: [.messageType("BankAccount.Command", timeout: .seconds(30))]))
        let accounts = dispatcher.aggregate(BankAccount.self)
        let call = Task { try await accounts.send(.open(5), to: "a") }
        await store.elsewhere.waitForSleepers(count: 1)
        await clock.waitForSleepers(count: 1)
        clock.advance(by: .seconds(30))
        await #expect { _ = try await call.value } throws: { ($0 as? DispatchError)?.code == .timedOut }
        #expect(try await store.streamVersion(of: "a") == 0)
    }

    @Test func retryBackoffWaitsOnTheConfiguredClock() async throws {
        let clock = ManualClock()
        var retry = RetryPolicy()
        retry.maximumAttempts = 2
        retry.initialBackoff = .seconds(10)
        retry.maximumBackoff = .seconds(10)
        let store = ConflictingStore(skipping: 1, conflicts: 1)
        let dispatcher = makeDispatcher(
            clock: clock, store: store, policies: PolicySet(rules: [.messageType("BankAccount.Command", retry: retry)]))
        let accounts = dispatcher.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(0), to: "a")
        let send = Task { try await accounts.send(.deposit(1), to: "a") }
        await clock.waitForSleepers(count: 1)
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(10))
        let result = try await send.value
        #expect(result.attempts == 2)
        #expect(result.aggregate.state.balance == 1_001)
    }

    /// Loads went through the lanes and failed with the lane pool's `ExecutorError` after shutdown; they now fail as
    /// commands and handlers do, with the dispatcher's own error.
    @Test func loadsSendsAndHandlersAfterShutdownFailWithTheDispatchersError() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let accounts = dispatcher.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(3), to: "a")
        await dispatcher.shutdown()
        await #expect { _ = try await accounts.load("a") } throws: { error in
            let error = error as? DispatchError
            return error?.code == .shutDown && error?.streamID == "a" && error?.messageID == nil
        }
        await #expect { _ = try await accounts.send(.deposit(1), to: "a") } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
        await #expect { _ = try await dispatcher.invoke(MessageEnvelope(message: "late")) { _ in 0 } } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
    }
}

/// An event store whose appends wait on a clock nobody advances, and so end only when the caller is cancelled.
private final class CancellableAppendStore: DelegatingEventStore {
    let inner = InMemoryEventStore()
    let elsewhere = ManualClock()

    func append(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion) async throws
        -> AppendResult
    {
        try await elsewhere.sleep(for: .seconds(3_600))
        return try await inner.append(events, to: streamID, expectedVersion: expectedVersion)
    }
}
