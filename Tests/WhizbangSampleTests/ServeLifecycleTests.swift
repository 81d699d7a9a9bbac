import Foundation
import ProcessTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension SampleProcessSuites {
    /// How `serve` starts and stops: what it refuses at start, and a shutdown that no client can hold up.
    @Suite("WhizbangSample serve: refusals at start and a bounded stop", .serialized, .timeLimit(.minutes(5)))
    struct ServeLifecycleTests {
        /// A projection name no store accepts as a checkpoint's consumer (here the empty one) is refused at start
        /// with exit status 2, like the other bad options (port, token, page sizes); served, it would make the
        /// overview, `/api/projections` and `/health/ready` answer 503 for as long as `serve` ran.
        @Test("serve --projection '' is refused at start (exit 2) instead of serving a console whose overview is 503")
        func emptyProjectionNameIsRefused() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let input = directory.appendingPathComponent("good.jsonl")
                try ImportFixture.write(ImportFixture.good(streams: 2, perStream: 2), to: input)
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", ledger])
                try #require(imported.status == 0, "\(imported.standardError)")
                let child = try await SampleProcess.child([
                    "serve", "--database", ledger, "--port", "0", "--projection", "",
                ])
                let first = await child.nextOutputLine()
                if let first, first.hasPrefix("console for ") {
                    Issue.record("serve started with an empty projection name: \(first)")
                    child.signal(SIGTERM)
                }
                let (status, rest) = try await child.finish()
                #expect(status == 2, "status \(status): \(rest)")
            }
        }

        /// `serve` reads the file it opened: a ledger deleted and made again at its path kept being served, and
        /// `/health/ready` said 200, with the old ledger's head, for as long as `serve` ran.
        @Test("serve is unready once its SQLite ledger is deleted or replaced, naming why")
        func aReplacedLedgerMakesServeUnready() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                try await SampleProcess.makeLedger(ledger, commands: 30)
                let child = try await SampleProcess.child(["serve", "--database", ledger, "--port", "0"])
                let line = try #require(await child.nextOutputLine())
                let port = try #require(line.split(separator: ":").last.flatMap { Int($0.dropLast()) }, "\(line)")
                func ready() async throws -> String {
                    let client = LoopbackClient()
                    defer { client.close() }
                    try client.connect(port)
                    try client.send("GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    return try await client.read(until: nil)
                }
                #expect(try await ready().hasPrefix("HTTP/1.1 200"))
                for file in [ledger, ledger + "-wal", ledger + "-shm"] { unlink(file) }
                let deleted = try await ready()
                #expect(deleted.hasPrefix("HTTP/1.1 503") && deleted.contains("was deleted since serve opened it"), "\(deleted)")
                try await SampleProcess.makeLedger(ledger, commands: 10)
                let replaced = try await ready()
                #expect(
                    replaced.hasPrefix("HTTP/1.1 503") && replaced.contains("was deleted or replaced since serve opened it"),
                    "\(replaced)")
                child.signal(SIGTERM)
                let (status, rest) = try await child.finish()
                #expect(status == 0, "status \(status): \(rest)")
            }
        }

        /// `serve` stops on SIGTERM even while a client that opened the live tail has stopped reading (a stalled or
        /// hostile client): the stream's write, waiting for room in the socket, ends with its connection when
        /// graceful shutdown begins.
        @Test("serve stops on SIGTERM while a client that stopped reading holds the live tail open")
        func serveStopsWithAStalledLiveClient() async throws {
            try await SampleProcess.withTemporaryDirectory { directory in
                // 400 events with types of 32 KiB (the tail leaves out payloads, not types): the tail's first round
                // (up to 500 events) is some 13 MiB, far more than the socket buffers between the server and a client
                // that reads nothing. Import refuses a type the ledger does not know, so the types are set in the
                // store after it.
                var lines: [String] = []
                for position in 1...400 {
                    lines.append(
                        ImportFixture.line(
                            position: position, stream: "s-\(position % 8)", version: (position - 1) / 8 + 1,
                            eventID: ImportFixture.eventID(position)))
                }
                let input = directory.appendingPathComponent("big.jsonl")
                try ImportFixture.write(lines, to: input)
                let ledger = directory.appendingPathComponent("ledger.sqlite").path
                let imported = try await SampleProcess.run(["import", "--input", input.path, "--database", ledger])
                try #require(imported.status == 0, "\(imported.standardError)")
                // 32 KiB of "x": the hex of 16 KiB of zero bytes, each digit replaced.
                let bigTypes = "UPDATE events SET event_type = replace(hex(zeroblob(\(16 << 10))), '0', 'x');"
                let typed = try await SampleProcess.tool("sqlite3", [ledger, bigTypes])
                try #require(typed.status == 0, "\(typed.standardError)")

                let child = try await SampleProcess.child(["serve", "--database", ledger, "--port", "0"])
                let line = try #require(await child.nextOutputLine())
                let port = try #require(line.split(separator: ":").last.flatMap { Int($0.dropLast()) }, "\(line)")
                let client = LoopbackClient()
                defer { client.close() }
                try client.connect(port, receiveBuffer: 4096)
                try client.send("GET /api/live?tail=true&after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                // The response has begun: the first round, which the client cannot take in without reading, is under
                // way. From here the client reads nothing.
                #expect(try await client.read(until: "\r\n\r\n", chunk: 256).hasPrefix("HTTP/1.1 200"))
                child.signal(SIGTERM)
                let exited = try await withThrowingTaskGroup(of: Int32?.self) { group in
                    group.addTask { try await child.exitStatus() }
                    group.addTask {
                        try? await Task.sleep(for: .seconds(20))
                        return nil
                    }
                    let first = try await group.next() ?? nil
                    // Let it go either way: a closed socket fails the server's write.
                    client.close()
                    group.cancelAll()
                    while try await group.next() != nil {}
                    return first
                }
                #expect(exited != nil, "serve was still running 20 s after SIGTERM, a stalled live client connected")
                if exited == nil { _ = try await child.finish() }
            }
        }
    }
}
