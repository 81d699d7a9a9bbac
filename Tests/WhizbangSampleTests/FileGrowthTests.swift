import Foundation
import ProcessTesting
import Testing

/// The test support's wait for a file that another process writes: it returns at the size asked, fails at its time
/// limit, and ends at once when its task is cancelled.
@Suite("FileGrowth waits", .timeLimit(.minutes(1)))
struct FileGrowthTests {
    @Test("a wait returns once the file reaches the size, whether it is written before or during the wait")
    func returnsAtTheSize() async throws {
        try await SampleProcess.withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("growing").path
            #expect(FileManager.default.createFile(atPath: path, contents: Data("ab".utf8)))
            try await FileGrowth.wait(for: path, toReach: 2, within: .seconds(50))
            let waiting = Task { try await FileGrowth.wait(for: path, toReach: 5, within: .seconds(50)) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("cde".utf8))
            try handle.close()
            try await waiting.value
        }
    }

    @Test("a wait for a size the file never reaches fails with TimedOut at its limit")
    func timesOut() async throws {
        try await SampleProcess.withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("still").path
            await #expect(throws: FileGrowth.TimedOut.self) {
                try await FileGrowth.wait(for: path, toReach: 1, within: .milliseconds(50))
            }
        }
    }

    /// A cancelled wait used to hold its thread until its limit: a test that no longer needed it (a task cancelled
    /// once the process it watched had finished) left a thread polling the kernel for up to a minute after it ended.
    @Test("a cancelled wait ends at once with CancellationError, long before its limit")
    func cancelledWaitEndsAtOnce() async throws {
        try await SampleProcess.withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("never").path
            let clock = ContinuousClock()
            let started = clock.now
            let waiting = Task { try await FileGrowth.wait(for: path, toReach: 1, within: .seconds(600)) }
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
            #expect(clock.now - started < .seconds(30))
        }
    }
}
