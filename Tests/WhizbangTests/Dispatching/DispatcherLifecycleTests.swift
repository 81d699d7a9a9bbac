import Testing
@testable import Whizbang

/// The dispatcher follows the executors' lifecycle rules: stop, admission, queue depths, shutdown from a handler, and
/// pipelined commands applied in send order.
@Suite(.timeLimit(.minutes(5)))
struct DispatcherLifecycleTests {
    @Test func shutdownCalledInsideAHandlerStopsAdmissionAndReturns() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let elapsed = try await ContinuousClock().measure {
            let value = try await dispatcher.invoke(MessageEnvelope(message: "stop")) { _ in
                await dispatcher.shutdown()
                return 1
            }
            #expect(value == 1)
        }
        // It returns instead of waiting for itself (before, it never returned). The bound is generous: on a loaded
        // machine the test process itself can be starved for seconds.
        #expect(elapsed < .seconds(10))
        #expect(!dispatcher.isAcceptingWork)
        await #expect { _ = try await dispatcher.aggregate(BankAccount.self).send(.open(1), to: "a") } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
    }

    @Test func shutdownCalledFromAChildTaskOfAHandlerReturns() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let elapsed = try await ContinuousClock().measure {
            _ = try await dispatcher.invoke(MessageEnvelope(message: "stop")) { _ in
                async let stopped: Void = dispatcher.shutdown()
                await stopped
                return 1
            }
        }
        // It returns instead of waiting for itself (before, it never returned). The bound is generous: on a loaded
        // machine the test process itself can be starved for seconds.
        #expect(elapsed < .seconds(10))
        #expect(!dispatcher.isAcceptingWork)
    }

    /// What `shutdown()`'s documentation tells a handler: a `Task {}` it starts counts as inside (shutdown() would
    /// return at once), a `Task.detached {}` does not (shutdown() waits for the drain there).
    @Test func aTaskOfAHandlerCountsAsInsideADetachedOneDoesNot() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let (inherited, detached) = try await dispatcher.invoke(MessageEnvelope(message: "look")) { _ in
            let inherited = await Task { dispatcher.isInsideOwnHandler }.value
            return (inherited, await Task.detached { dispatcher.isInsideOwnHandler }.value)
        }
        #expect(inherited)
        #expect(!detached)
        #expect(!dispatcher.isInsideOwnHandler)
    }

    @Test func stopFailsWaitingCommandsLetsTheRunningHandlerFinishAndRefusesNewWork() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let accounts = dispatcher.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(0), to: "a")
        let started = TestGate()
        let proceed = TestGate()
        // Holds stream "a"'s lane from inside a command's lane, as a long command would.
        let holder = Task {
            try await dispatcher.lanes.run(key: "a") { () async throws -> Int in
                started.open()
                await proceed.wait()
                return 1
            }
        }
        await started.wait()
        let queued = (0..<10).map { _ in Task { try await accounts.send(.deposit(1), to: "a") } }
        await yield { dispatcher.queueDepths.serialCommands == 10 }
        #expect(dispatcher.queueDepths.total == 10)
        dispatcher.stop()
        #expect(!dispatcher.isAcceptingWork)
        for send in queued {
            await #expect { _ = try await send.value } throws: { ($0 as? DispatchError)?.code == .shutDown }
        }
        proceed.open()
        #expect(try await holder.value == 1)
        await dispatcher.shutdown()
        #expect(dispatcher.queueDepths.total == 0)
        #expect(try await dispatcher.store.streamVersion(of: "a") == 1)
    }

    /// One client sends 10,000 commands for one aggregate without awaiting each: `Task.immediate` runs each send up
    /// to its first suspension, which is where it takes its place on the stream's lane, so the lane's order is the
    /// order of the calls.
    @Test func pipelinedCommandsApplyInSendOrder() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let accounts = dispatcher.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(0), to: "a")
        var sends: [Task<CommandResult<BankAccount>, any Error>] = []
        sends.reserveCapacity(10_000)
        for amount in 1...10_000 {
            sends.append(Task.immediate { try await accounts.send(.deposit(amount), to: "a") })
        }
        for (index, send) in sends.enumerated() {
            let result = try await send.value
            #expect(result.streamVersion == UInt64(index + 2))
            #expect(result.events == [.deposited(.init(amount: index + 1))])
        }
        #expect(try await accounts.load("a").state.balance == 10_000 * 10_001 / 2)
    }

    /// The same from the main actor, with and without a time limit. `send` was a plain `async` function, so a call
    /// from an actor left the actor first (a suspension) and the tasks reached the lane in any order: commands of
    /// one aggregate applied out of the order they were sent.
    @MainActor
    @Test(arguments: [nil, Duration.seconds(600)])
    func pipelinedCommandsFromTheMainActorApplyInSendOrder(timeout: Duration?) async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let accounts = dispatcher.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(0), to: "a")
        var sends: [Task<CommandResult<BankAccount>, any Error>] = []
        for amount in 1...2_000 {
            sends.append(Task.immediate { try await accounts.send(.deposit(amount), to: "a", timeout: timeout) })
        }
        var misplaced = 0
        for (index, send) in sends.enumerated() where try await send.value.streamVersion != UInt64(index + 2) {
            misplaced += 1
        }
        #expect(misplaced == 0)
    }
}
