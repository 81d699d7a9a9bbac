import Foundation
import Testing
import Whizbang

/// Very long time limits. A caller that means "practically never" may well pass `.seconds(Int64.max)`; a deadline
/// that far ahead does not fit a clock's instant, and the clocks trap on it. The dispatcher waits such a limit as
/// its longest time limit instead. Each body runs in a child process, so that a trap fails the test alone.
@Suite("Very long time limits", .timeLimit(.minutes(1)))
struct LongTimeLimitTests {
    /// A per-call `timeout:` on `invoke`: the handler returns once the call's timer has started.
    @Test func aCallWithAVeryLongTimeoutDoesNotCrashTheProcess() async {
        await #expect(processExitsWith: .success) {
            var configuration = DispatcherConfiguration()
            let clock = SignallingClock()
            configuration.clock = clock
            let dispatcher = Dispatcher(store: InMemoryEventStore(), configuration: configuration)
            let result = try await dispatcher.invoke(MessageEnvelope(message: 1), timeout: .seconds(Int64.max)) { _ in
                await clock.sleepStarted.wait()
                return 1
            }
            guard result == 1 else { exit(1) }
        }
    }

    /// A policy's time limit (`PolicySet.defaultTimeout`) on a handler.
    @Test func aPolicyWithAVeryLongTimeLimitDoesNotCrashTheProcess() async {
        await #expect(processExitsWith: .success) {
            var configuration = DispatcherConfiguration()
            let clock = SignallingClock()
            configuration.clock = clock
            configuration.policies.defaultTimeout = .seconds(Int64.max)
            let dispatcher = Dispatcher(store: InMemoryEventStore(), configuration: configuration)
            let result = try await dispatcher.invoke(MessageEnvelope(message: 1)) { _ in
                await clock.sleepStarted.wait()
                return 1
            }
            guard result == 1 else { exit(1) }
        }
    }
}
