import Foundation
import Testing
@testable import Whizbang

@Suite(.timeLimit(.minutes(5)))
struct DispatcherTests {
    @Test func appliesCommandsAndReturnsTheNewVersionEventsAndPositions() async throws {
        let store = InMemoryEventStore()
        let accounts = Dispatcher(store: store).aggregate(BankAccount.self)
        let opened = try await accounts.send(.open(100), to: "a")
        #expect(opened.streamVersion == 1)
        #expect(opened.events == [.opened(.init(initialDeposit: 100))])
        #expect(opened.positions == 1..<2)
        let withdrawn = try await accounts.send(.withdraw(30), to: "a")
        #expect(withdrawn.streamVersion == 2)
        #expect(withdrawn.aggregate.state.balance == 70)
        #expect(withdrawn.attempts == 1)
        #expect(try await accounts.load("a").state.balance == 70)
        #expect(try await store.readAll(after: 0, limit: 10).map(\.eventType) == ["Opened", "Withdrawn"])
    }

    @Test func aRejectedCommandThrowsTheDomainErrorAndWritesNothing() async throws {
        let store = InMemoryEventStore()
        let accounts = Dispatcher(store: store).aggregate(BankAccount.self)
        _ = try await accounts.send(.open(10), to: "a")
        await #expect(throws: BankAccount.Rejected(reason: "insufficient funds")) {
            _ = try await accounts.send(.withdraw(11), to: "a")
        }
        #expect(try await store.streamVersion(of: "a") == 1)
        #expect(try await accounts.load("a").state.balance == 10)
    }

    @Test func aCommandThatDecidesNothingWritesNothing() async throws {
        let store = InMemoryEventStore()
        let accounts = Dispatcher(store: store).aggregate(BankAccount.self)
        let result = try await accounts.send(.touch, to: "a")
        #expect(result.events.isEmpty)
        #expect(result.positions.isEmpty)
        #expect(try await store.headPosition() == 0)
        // Placed after the head, as an empty append is: `upperBound - 1` is a position to wait for, never 0 - 1.
        #expect(result.positions == 1..<1)
        _ = try await accounts.send(.open(10), to: "b")
        let later = try await accounts.send(.touch, to: "a")
        #expect(later.positions == 2..<2)
    }

    /// The instance id is eight hexadecimal digits, leading zeros included.
    @Test func theDefaultInstanceIDHasEightHexDigits() {
        for _ in 0..<2_000 {
            let id = DispatcherConfiguration().instanceID
            #expect(id.count == 8 && id.allSatisfy(\.isHexDigit), "\(id)")
        }
    }

    @Test func theEnvelopeIsStoredInBinaryByDefault() {
        #expect(DispatcherConfiguration().envelopeEncoding == .binary)
    }

    @Test(arguments: StoredEnvelopeEncoding.allCases)
    func theCommandsEnvelopeFlowsIntoItsEventsMetadata(encoding: StoredEnvelopeEncoding) async throws {
        let store = InMemoryEventStore()
        var configuration = DispatcherConfiguration()
        configuration.serviceName = "ledger"
        configuration.instanceID = "instance-1"
        configuration.envelopeEncoding = encoding
        let accounts = Dispatcher(store: store, configuration: configuration).aggregate(BankAccount.self)
        let cause = EnvelopeMetadata(metadata: ["tenant": "blue"])
        let traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let result = try await accounts.send(
            .open(5), to: "a", metadata: ["traceparent": traceParent], causedBy: cause)
        let stored = try #require(try await store.readAll(after: 0, limit: 1).first)
        #expect(stored.metadata == result.envelope.storedForm(rowStreamID: "a", encoding: encoding))
        #expect(stored.metadata.first == (encoding == .binary ? 0xB1 : UInt8(ascii: "{")))
        let metadata = try #require(try stored.commandEnvelope())
        #expect(metadata == result.envelope)
        #expect(metadata.correlationID == cause.correlationID)
        #expect(metadata.causationID == cause.messageID)
        #expect(metadata.streamID == "a")
        #expect(metadata.metadata["tenant"] == "blue")
        let hop = try #require(metadata.hops.last)
        #expect(hop.serviceName == "ledger")
        #expect(hop.instanceID == "instance-1")
        #expect(hop.executorName == "serial")
        #expect(hop.streamID == "a")
        #expect(hop.traceParent?.description == traceParent)
        #expect(hop.policyDecisions.map(\.decision) == ["execution=serial", "maximumAttempts=10", "timeout=none"])
    }

    @Test func aConflictReloadsAndDecidesAgain() async throws {
        let store = ConflictingStore(skipping: 1, conflicts: 1)
        let accounts = Dispatcher(store: store).aggregate(BankAccount.self)
        _ = try await accounts.send(.open(600), to: "a")
        // The withdrawal conflicts with a foreign deposit of 1,000; the retry decides again on the reloaded state.
        let result = try await accounts.send(.withdraw(500), to: "a")
        #expect(result.attempts == 2)
        #expect(result.aggregate.state.balance == 1_100)
        #expect(result.streamVersion == 3)
    }

    @Test func whenRetriesRunOutTheConflictReachesTheCaller() async throws {
        let store = ConflictingStore(conflicts: 1)
        var configuration = DispatcherConfiguration()
        configuration.policies.defaultRetry = .noRetries
        let accounts = Dispatcher(store: store, configuration: configuration).aggregate(BankAccount.self)
        await #expect {
            _ = try await accounts.send(.open(0), to: "a")
        } throws: { error in
            let error = error as? EventStoreError
            return error?.code == .wrongExpectedVersion && error?.streamID == "a" && error?.actualVersion == 1
        }
    }

    @Test func aPolicyCanRunCommandsOnTheParallelExecutor() async throws {
        var configuration = DispatcherConfiguration()
        configuration.policies.rules = [.messageType("BankAccount.Command", execution: .parallel)]
        let accounts = Dispatcher(store: InMemoryEventStore(), configuration: configuration)
            .aggregate(BankAccount.self)
        let result = try await accounts.send(.open(1), to: "a")
        #expect(result.envelope.hops.last?.executorName == "parallel")
        #expect(result.envelope.hops.last?.policyDecisions.first?.rule == "messageType == BankAccount.Command")
    }

    @Test func aHandlerPastItsTimeLimitIsCancelledAndFailsWithTimedOut() async throws {
        var configuration = DispatcherConfiguration()
        configuration.policies.defaultTimeout = .milliseconds(20)
        let dispatcher = Dispatcher(store: InMemoryEventStore(), configuration: configuration)
        let envelope = MessageEnvelope(message: "ping")
        let (never, continuation) = AsyncStream<Int>.makeStream()
        await #expect {
            _ = try await dispatcher.invoke(envelope) { _ in
                // Waits until the timeout cancels it: the stream never yields, and ends on cancellation.
                for await _ in never {}
                return 0
            }
        } throws: { error in
            (error as? DispatchError)?.code == .timedOut && (error as? DispatchError)?.messageID == envelope.messageID
        }
        continuation.finish()
    }

    @Test func invokeRunsAStatelessHandlerWithAHop() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let hops = try await dispatcher.invoke(MessageEnvelope(message: 2)) { envelope in
            envelope.hops.map(\.executorName)
        }
        #expect(hops == ["parallel"])
    }

    /// The hop said `execution=serial` (the default, or a rule's) for a handler that ran on the parallel executor.
    @Test func invokeRecordsTheExecutionItFollows() async throws {
        let rule = PolicyRule.messageType("String", execution: .serial, timeout: .seconds(60))
        for policies in [PolicySet(), PolicySet(rules: [rule])] {
            var configuration = DispatcherConfiguration()
            configuration.policies = policies
            let dispatcher = Dispatcher(store: InMemoryEventStore(), configuration: configuration)
            let decisions = try await dispatcher.invoke(MessageEnvelope(message: "ping", streamID: "s")) { envelope in
                envelope.hops.last?.policyDecisions.map { "\($0.rule): \($0.decision)" } ?? []
            }
            // No rule chose: the default trail (stored compactly); a rule chose serial: `invoke` overrides it.
            let expected = policies.rules.isEmpty ? "default: execution=parallel" : "invoke: execution=parallel"
            #expect(decisions.first == expected, "\(decisions)")
            #expect(!decisions.contains { $0.hasSuffix("execution=serial") }, "\(decisions)")
            // The other decisions stay as the rules took them.
            let timeout = policies.rules.isEmpty ? "default: timeout=none" : "\(rule.name): timeout="
            #expect(decisions.last?.hasPrefix(timeout) == true, "\(decisions)")
        }
    }

    /// 100 commands wait behind a held lane when shutdown starts: it refuses new ones at once, and returns only after
    /// all 100 have been applied (the version it reads on return shows it).
    @Test func shutdownFinishesInFlightCommandsAndRefusesNewOnes() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let accounts = dispatcher.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(0), to: "a")
        let started = TestGate()
        let proceed = TestGate()
        let holder = Task {
            try await dispatcher.lanes.run(key: "a") { () async throws -> Int in
                started.open()
                await proceed.wait()
                return 1
            }
        }
        await started.wait()
        let sends = (0..<100).map { _ in Task { try await accounts.send(.deposit(1), to: "a") } }
        await yield { dispatcher.queueDepths.serialCommands == 100 }
        let store = dispatcher.store
        let shutdown = Task {
            await dispatcher.shutdown()
            return try await store.streamVersion(of: "a")
        }
        await yield { !dispatcher.isAcceptingWork }
        await #expect { _ = try await accounts.send(.deposit(1), to: "b") } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
        proceed.open()
        #expect(try await shutdown.value == 101)
        #expect(try await holder.value == 1)
        for send in sends { _ = try await send.value }
    }

    @Test func runReturnsAfterItsTaskIsCancelled() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let service = Task { try await dispatcher.run() }
        service.cancel()
        try await service.value
        await #expect { _ = try await dispatcher.aggregate(BankAccount.self).send(.open(1), to: "a") } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
    }
}
