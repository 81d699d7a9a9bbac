import Foundation
import Testing
import Whizbang
@testable import WhizbangStore

#if canImport(Glibc)
import Glibc
#endif

/// How a restore names the finished store on a file system without hard links, where it cannot `link`.
@Suite("SQLiteRestore without hard links", .timeLimit(.minutes(5)))
struct SQLiteRestorePlacingTests {
    /// A restore of three events to `path` that acts as on a file system without hard links, calling `beforeRename`
    /// just before it renames the finished file.
    private func restore(to path: String, beforeRename: @escaping @Sendable () -> Void) -> SQLiteRestore {
        let events = (1...3).map { index in
            RecordedEvent(
                streamID: "s", streamVersion: UInt64(index), position: UInt64(index), eventID: MessageID(),
                eventType: "Noted", data: Data("{}".utf8), metadata: Data(),
                recordedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(index)))
        }
        var restore = SQLiteRestore(
            events: events, checkpoints: [:], path: path, marker: nil, configuration: .testing,
            progress: { _ in true }, stop: SQLiteRestore.StopRequest())
        restore.withoutHardLinks = beforeRename
        return restore
    }

    @Test("names the store with a rename")
    func renames() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("restored.sqlite").path
            let written = try restore(to: path, beforeRename: {}).run()
            #expect(written == 3)
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(names == ["restored.sqlite"])
            #expect(SQLiteEventStore.inspectFile(at: path).isWhizbangStore)
        }
    }

    @Test("never replaces a file that appeared at the path just before the rename")
    func leavesAFileThatAppeared() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("restored.sqlite").path
            let theirs = Data("someone else's\n".utf8)
            let racing = restore(to: path) { _ = FileManager.default.createFile(atPath: path, contents: theirs) }
            await expectError(.invalidArgument) { _ = try racing.run() }
            let left = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(left.elementsEqual(theirs), "the file at the path has \(left.count) bytes")
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(names == ["restored.sqlite"])
        }
    }
}
