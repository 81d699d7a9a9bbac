import Testing
import Whizbang

@Suite struct SerialExecutorTests {
    @Test func runsOnIdleLane() async throws {
        let executor = SerialExecutor()
        let value = try await executor.run { 42 }
        #expect(value == 42)
    }
}
