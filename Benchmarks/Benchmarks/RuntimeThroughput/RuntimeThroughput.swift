#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RuntimeFixtures
import Whizbang

// Commands per second through `Dispatcher` with the in-memory store, at 1 and at 256 commands in flight, measured
// outside the benchmark harness.
//
// Why outside: the harness's runner is itself async, and it runs an async benchmark by starting a task and blocking
// the thread it runs on, one of the threads of Swift's cooperative pool, on a semaphore until that task finishes.
// The pool has as many threads as cores, so on a 2-core machine every async benchmark gets one core, however many
// tasks it starts (a task group of 256 CPU-bound children runs at 99% CPU under that pattern and at 193% without
// it). A service's tasks do not run that way; this driver, a plain `async` main, measures what they get.
//
// Each shape runs rounds of 25,600 deposits over 256 opened accounts (the same rounds as RuntimeBenchmarks); it
// reports the median round and the CPU the process used per wall-clock second.
//
//     swift run -c release RuntimeThroughput [rounds]

@main
struct RuntimeThroughput {
    static let accounts = 256
    static let commandsPerAccount = 100

    static func main() async throws {
        let rounds = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 20
        print("rounds of \(accounts * commandsPerAccount) deposits over \(accounts) accounts, \(rounds) rounds each")
        try await measure("1 in flight", rounds: rounds) { fixture in
            for _ in 0..<commandsPerAccount {
                for stream in fixture.streams { _ = try await fixture.accounts.send(.deposit(1), to: stream) }
            }
        }
        try await measure("256 in flight", rounds: rounds) { fixture in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for stream in fixture.streams {
                    group.addTask {
                        for _ in 0..<commandsPerAccount { _ = try await fixture.accounts.send(.deposit(1), to: stream) }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    /// Runs two warm-up rounds and `rounds` measured ones on a fresh fixture, then prints the median.
    static func measure(
        _ name: String,
        rounds: Int,
        round: @Sendable (RuntimeFixture<Account>) async throws -> Void
    ) async throws {
        let fixture = RuntimeFixture<Account>(accounts: accounts)
        try await fixture.prepare()
        for _ in 0..<2 { try await round(fixture) }
        var seconds: [Double] = []
        let cpuBefore = cpuSeconds()
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<rounds {
            let elapsed = try await clock.measure { try await round(fixture) }
            seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        let wall = clock.now - start
        let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        let cpu = cpuSeconds() - cpuBefore
        seconds.sort()
        let median = seconds[seconds.count / 2]
        let commands = Double(accounts * commandsPerAccount)
        print(
            "\(name): median round \(Int(median * 1_000)) ms = \(Int(commands / median / 1_000))K commands/s "
                + "(fastest \(Int(commands / seconds[0] / 1_000))K, slowest \(Int(commands / seconds.last! / 1_000))K), "
                + "CPU \(Int(cpu / wallSeconds * 100))%")
    }

    /// User plus system CPU time of the process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
