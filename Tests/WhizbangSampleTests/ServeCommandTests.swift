import Foundation
import ProcessTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

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

    /// Before, a value past about 9.2 × 10¹⁸ seconds was taken, and the stop then trapped on the overflow of the
    /// shutdown's deadline (exit 132), instead of stopping.
    @Test func aShutdownTimeOutOfRangeRefusesToStart() async throws {
        for seconds in ["0", "86401", "9223372036854775000"] {
            let output = try await SampleProcess.run(
                ["serve", "--database", "/nonexistent/ledger.sqlite", "--port", "0", "--shutdown-seconds", seconds])
            #expect(output.status == 2, "\(seconds): \(output.standardError)")
            #expect(
                output.standardError.contains("--shutdown-seconds must be from 1 to 86400"), "\(output.standardError)")
        }
    }

    /// Before, `--host '[::1]'` printed `http://[[::1]]:PORT/`, which no client takes.
    @Test func aBracketedIPv6HostIsPrintedOnce() async throws {
        try await SampleProcess.withTemporaryDirectory { directory in
            let ledger = directory.appendingPathComponent("ledger.sqlite").path
            try await SampleProcess.makeLedger(ledger, commands: 10)
            for host in ["[::1]", "::1"] {
                let child = try await SampleProcess.child(
                    ["serve", "--database", ledger, "--port", "0", "--host", host])
                guard let line = await child.nextOutputLine() else {
                    // A host without IPv6 cannot listen on ::1, and prints no address.
                    _ = try await child.finish()
                    continue
                }
                child.signal(SIGTERM)
                _ = try await child.finish()
                #expect(line.contains("at http://[::1]:"), "\(host): \(line)")
            }
        }
    }
}
