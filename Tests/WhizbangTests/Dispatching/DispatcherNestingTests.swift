import Synchronization
import Testing
@testable import Whizbang

@Suite(.timeLimit(.minutes(5)))
struct DispatcherNestingTests {
    @Test func handlersHoldingEveryPermitCanStillSendParallelCommands() async throws {
        var configuration = DispatcherConfiguration()
        configuration.maximumParallelism = 1
        configuration.policies.rules = [.messageType("BankAccount.Command", execution: .parallel)]
        let dispatcher = Dispatcher(store: InMemoryEventStore(), configuration: configuration)
        let accounts = dispatcher.aggregate(BankAccount.self)
        // The handler holds the only handler permit while its command runs: commands have permits of their own.
        let version = try await dispatcher.invoke(MessageEnvelope(message: "open")) { _ in
            try await accounts.send(.open(5), to: "a").streamVersion
        }
        #expect(version == 1)
    }

    /// A handler's own `ExecutorError` (from another executor it used) reached the caller as the dispatcher's
    /// `shutDown`, although the dispatcher was accepting work and the handler had run.
    @Test func aHandlersOwnExecutorErrorReachesTheCallerAsItIs() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let inner = SerialExecutor()
        inner.stop()
        await #expect {
            try await dispatcher.invoke(MessageEnvelope(message: "work")) { _ in try await inner.run { 1 } }
        } throws: { ($0 as? ExecutorError)?.code == .stopped }
        await #expect {
            try await dispatcher.invoke(MessageEnvelope(message: "work"), timeout: .seconds(600)) { _ in
                try await inner.run { 1 }
            }
        } throws: { ($0 as? ExecutorError)?.code == .stopped }
        #expect(dispatcher.isAcceptingWork)
    }

    /// A handler that rethrows the refusal of a command it sent after a stop passes on a `shutDown` that names that
    /// command, not the handler's own message: the caller can tell that its handler ran (and wrote) from one that did
    /// not start.
    @Test func aRefusalOfAHandlersOwnCommandNamesThatCommand() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let accounts = dispatcher.aggregate(BankAccount.self)
        let envelope = MessageEnvelope(message: "open then deposit")
        let deposit = MessageEnvelope<BankAccount.Command>(message: .deposit(5), streamID: "a")
        await #expect {
            try await dispatcher.invoke(envelope) { _ in
                _ = try await accounts.send(.open(5), to: "a")
                dispatcher.stop()
                return try await accounts.send(deposit).streamVersion
            }
        } throws: { error in
            guard let error = error as? DispatchError, error.code == .shutDown else { return false }
            return error.messageID == deposit.messageID && error.messageID != envelope.messageID
        }
        #expect(try await dispatcher.store.readStream("a", from: 1, direction: .forwards, limit: 10).count == 1)
    }

    @Test func aHandlerRunningAtShutdownCanStillSendItsCommands() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let accounts = dispatcher.aggregate(BankAccount.self)
        let started = TestGate()
        let proceed = TestGate()
        let handler = Task {
            try await dispatcher.invoke(MessageEnvelope(message: "open")) { _ in
                started.open()
                await proceed.wait()
                return try await accounts.send(.open(5), to: "a").streamVersion
            }
        }
        await started.wait()
        let shutdown = Task { await dispatcher.shutdown() }
        await yield { !dispatcher.parallel.isAcceptingWork }
        // New handlers are refused, but the one in flight finishes, commands included.
        await #expect { _ = try await dispatcher.invoke(MessageEnvelope(message: "late")) { _ in 0 } } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
        // So are commands and loads from outside: the lanes stay open only for the handlers still running. Before,
        // they were accepted (and written) while isAcceptingWork already said false.
        #expect(!dispatcher.isAcceptingWork)
        await #expect { _ = try await accounts.send(.open(1), to: "b") } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
        await #expect { _ = try await accounts.load("b") } throws: { ($0 as? DispatchError)?.code == .shutDown }
        #expect(try await dispatcher.store.streamVersion(of: "b") == 0)
        proceed.open()
        #expect(try await handler.value == 1)
        await shutdown.value
        await #expect { _ = try await accounts.send(.deposit(1), to: "a") } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
    }

    /// A shutdown called inside a handler drains as one called from outside, without waiting. Before, it stopped the
    /// lanes too, so the other handlers still running (and the caller itself) were refused the commands they sent
    /// afterwards, while a shutdown from outside let them through.
    @Test func aShutdownFromInsideAHandlerLetsTheRunningHandlersSendTheirCommands() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let accounts = dispatcher.aggregate(BankAccount.self)
        let started = TestGate()
        let proceed = TestGate()
        defer { proceed.open() }
        let other = Task {
            try await dispatcher.invoke(MessageEnvelope(message: "open")) { _ in
                started.open()
                await proceed.wait()
                return try await accounts.send(.open(5), to: "a").streamVersion
            }
        }
        await started.wait()
        let own = try await dispatcher.invoke(MessageEnvelope(message: "stop")) { _ in
            await dispatcher.shutdown()
            return try await accounts.send(.open(1), to: "b").streamVersion
        }
        #expect(own == 1)
        #expect(!dispatcher.isAcceptingWork)
        await #expect { _ = try await dispatcher.invoke(MessageEnvelope(message: "late")) { _ in 0 } } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
        await #expect { _ = try await accounts.send(.open(1), to: "c") } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
        proceed.open()
        #expect(try await other.value == 1)
        // The drain that the handler started goes on without anyone waiting for it: once the handlers are done, the
        // lanes stop admitting, with no shutdown from outside.
        await dispatcher.backgroundDrain.withLock { $0 }?.value
        #expect(!dispatcher.lanes.isAcceptingWork)
        await dispatcher.shutdown()
        await #expect { _ = try await accounts.send(.deposit(1), to: "a") } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
        #expect(try await dispatcher.store.streamVersion(of: "c") == 0)
    }

    /// The drain a shutdown from inside a handler starts waits for the handlers still running; `stop()` ends it at
    /// once, as it ends the waits of every other caller.
    @Test func stopEndsTheDrainAShutdownFromInsideAHandlerStarted() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let started = TestGate()
        let proceed = TestGate()
        defer { proceed.open() }
        let stuck = Task {
            try await dispatcher.invoke(MessageEnvelope(message: "slow")) { _ in
                started.open()
                await proceed.wait()
                return 1
            }
        }
        await started.wait()
        _ = try await dispatcher.invoke(MessageEnvelope(message: "stop")) { _ in
            await dispatcher.shutdown()
            return 0
        }
        let drain = try #require(dispatcher.backgroundDrain.withLock { $0 })
        dispatcher.stop()
        // Returns although the slow handler still runs.
        await drain.value
        proceed.open()
        #expect(try await stuck.value == 1)
    }
}
