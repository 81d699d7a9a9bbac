import Foundation
import ProcessTesting
import Testing

@Suite("serve", .timeLimit(.minutes(5)))
struct ServeCommandTests {
    @Test func anAddressOtherThanLoopbackWithoutATokenRefusesToStart() async throws {
        let output = try await SampleProcess.run(
            try SampleProcess.executable,
            ["serve", "--database", "/nonexistent/ledger.sqlite", "--host", "0.0.0.0", "--port", "0"],
            removing: ["WHIZBANG_CONSOLE_TOKEN"])
        #expect(output.status == 2)
        #expect(output.standardError.contains("refusing to listen on 0.0.0.0 without an access token"))
        #expect(output.standardOutput.isEmpty)
    }
}
