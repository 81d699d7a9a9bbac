import Foundation
import Testing
import Whizbang

/// A policy's time limit (`PolicySet.defaultTimeout`, `PolicyRule.timeout`) when the caller is cancelled: the work's
/// own outcome is reported, as without a limit.
@Suite("Policy time limits and a cancelled caller", .timeLimit(.minutes(1)))
struct PolicyTimeLimitCancellationTests {
    /// A caller is cancelled (a client went away) while its command is appending; the store finishes the append, as
    /// stores do once an append is queued. The caller gets the command's result, since the event was written. Before,
    /// with a policy time limit the timer's own `CancellationError` won the race, and a caller that retried on it
    /// recorded the command twice.
    @Test(arguments: [nil, Duration.seconds(3600)])
    func aCancelledCallerOfACommandThatWroteLearnsItsResult(policyTimeout: Duration?) async throws {
        let store = GatedAppendStore()
        let clock = SignallingClock()
        var configuration = DispatcherConfiguration()
        configuration.clock = clock
        configuration.policies.defaultTimeout = policyTimeout
        let accounts = Dispatcher(store: store, configuration: configuration).aggregate(BankAccount.self)
        let send = Task { try await accounts.send(.open(5), to: "a") }
        await store.appendArrived.wait()
        send.cancel()
        // With a time limit, let its timer see the cancellation first, as it would whenever the append takes a while.
        if policyTimeout != nil { await clock.sleepEnded.wait() }
        store.releaseAppends.open()
        let outcome = await send.result
        #expect(try await store.streamVersion(of: "a") == 1, "the command's event was written")
        switch outcome {
        case .success(let result):
            #expect(result.streamVersion == 1)
        case .failure(let error):
            Issue.record("the caller got \(error) though its command's event was written")
        }
    }

    /// The same for `invoke`: a stateless handler that completed returns its result.
    @Test func aCancelledCallerOfAHandlerThatFinishedLearnsItsResult() async throws {
        let clock = SignallingClock()
        var configuration = DispatcherConfiguration()
        configuration.clock = clock
        configuration.policies.defaultTimeout = .seconds(3600)
        let dispatcher = Dispatcher(store: InMemoryEventStore(), configuration: configuration)
        let started = TestGate()
        let proceed = TestGate()
        let effects = Recorder<String>()
        let call = Task {
            try await dispatcher.invoke(MessageEnvelope(message: "charge card")) { _ in
                started.open()
                await proceed.wait()
                effects.append("card charged")
                return "receipt"
            }
        }
        await started.wait()
        call.cancel()
        await clock.sleepEnded.wait()
        proceed.open()
        let outcome = await call.result
        #expect(effects.elements == ["card charged"])
        if case .failure(let error) = outcome {
            Issue.record("the caller got \(error) though its handler finished and returned its result")
        }
    }
}
