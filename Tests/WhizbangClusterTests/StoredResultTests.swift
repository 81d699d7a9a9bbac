import Foundation
import NIOCore
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// The forms in which a node keeps a command's result in the inbox: binary, and the JSON of earlier nodes.
@Suite("Stored command results")
struct StoredResultTests {
    static let results = [
        ClusterCommandResult(
            messageID: MessageID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210), outcome: .accepted,
            streamVersion: 42, eventCount: 2, reason: nil, state: Data(#"{"balance":1000}"#.utf8), node: "node-1"),
        ClusterCommandResult(
            messageID: MessageID(), outcome: .rejected, streamVersion: 7, eventCount: 0,
            reason: "insufficient funds: 12 < 40 ✓", state: nil, node: "ñode"),
        ClusterCommandResult(
            messageID: MessageID(), outcome: .failed, streamVersion: 0, eventCount: 0, reason: "", state: Data(),
            node: ""),
    ]

    static func hex(_ buffer: ByteBuffer) -> String {
        buffer.readableBytesView.map { String(format: "%02x", $0) }.joined()
    }

    @Test("the event ids of commands whose message ids follow one another all differ; the first keeps its old id")
    func adjacentCommandsEventIDsDiffer() {
        let first = MessageID()
        let ids = (0..<8).flatMap { step in
            ClusterCommandResult(
                messageID: MessageID(high: first.high, low: first.low &+ UInt64(step)), outcome: .accepted,
                streamVersion: 3, eventCount: 3, reason: nil, state: nil, node: "n"
            ).eventIDs
        }
        #expect(Set(ids).count == 24)
        #expect(
            Self.results[0].eventIDs.first
                == MessageID(high: 0x0123_4567_89AB_CDEF ^ 0x9E37_79B9_7F4A_7C15, low: 0xFEDC_BA98_7654_3210))
    }

    @Test("a result reads back equal from either form")
    func roundTrips() throws {
        for result in Self.results {
            let binary = try result.stored(as: .binary)
            #expect(binary.getInteger(at: 0, as: UInt8.self) == 1)
            #expect(try ClusterCommandResult(stored: binary) == result)
            let json = try result.stored(as: .json)
            #expect(json.getInteger(at: 0, as: UInt8.self) == UInt8(ascii: "{"))
            #expect(try ClusterCommandResult(stored: json) == result)
        }
    }

    @Test("the binary form's bytes are those the documentation gives")
    func layout() throws {
        let stored = try Self.results[0].stored(as: .binary)
        let expected: [UInt8] =
            [1, 1]
            + [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10]
            + [0, 0, 0, 0, 0, 0, 0, 42] + [0, 0, 0, 2]
            + [0, 0, 0, 6] + Array("node-1".utf8)
            + [0xFF, 0xFF, 0xFF, 0xFF]
            + [0, 0, 0, 16] + Array(#"{"balance":1000}"#.utf8)
        #expect(Array(stored.readableBytesView) == expected)
    }

    /// Stored bytes that are no result: empty, of an unknown form or outcome, cut short, too long, with no node,
    /// with a reason that is not UTF-8, and broken JSON.
    static func malformedInputs() throws -> [[UInt8]] {
        let good = Array(try results[0].stored(as: .binary).readableBytesView)
        var unknownOutcome = good
        unknownOutcome[1] = 9
        var lengthPastEnd = good
        lengthPastEnd[30] = 0x7F
        let header = Array(good.prefix(30))
        let noNode = header + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        let badReason = header + [0, 0, 0, 1, 0x6E, 0, 0, 0, 2, 0xC3, 0x28, 0xFF, 0xFF, 0xFF, 0xFF]
        return [
            [], [2] + good.dropFirst(), unknownOutcome, Array(good.dropLast()), Array(good.prefix(20)), good + [0],
            lengthPastEnd, noNode, badReason, Array("{\"outcome\":".utf8),
        ]
    }

    @Test("bytes that are no stored result are malformedResult")
    func malformed() throws {
        for bytes in try Self.malformedInputs() {
            let error = #expect(throws: ClusterError.self) {
                try ClusterCommandResult(stored: ByteBuffer(bytes: bytes))
            }
            #expect(error?.code == .malformedResult, "\(bytes.prefix(4)): \(String(describing: error))")
        }
    }

    /// `eventIDs` makes an id for each event a result counts: a count changed by hand in the inbox (2^32 - 1 in the
    /// binary form, any integer in JSON) had a client allocate gigabytes of ids, or trap.
    @Test("a stored result counting more events than its stream holds, or a negative count, is malformedResult")
    func anEventCountNoCommandStoresIsRefused() throws {
        for form in [ClusterCommandResult.StoredForm.binary, .json] {
            for (count, version) in [(3, 2), (Int(UInt32.max), UInt64.max)] {
                var result = Self.results[0]
                result.eventCount = count
                result.streamVersion = version
                let stored = try result.stored(as: form)
                let error = #expect(throws: ClusterError.self) { try ClusterCommandResult(stored: stored) }
                #expect(error?.code == .malformedResult, "\(form) \(count)")
            }
        }
        // JSON holds any integer: a negative count too.
        var negative = Self.results[0]
        negative.eventCount = -4
        let stored = try negative.stored(as: .json)
        let error = #expect(throws: ClusterError.self) { try ClusterCommandResult(stored: stored) }
        #expect(error?.code == .malformedResult)
    }

    @Test("a result with a negative event count is refused, not stored as another count")
    func negativeEventCount() {
        var result = Self.results[0]
        result.eventCount = -1
        let error = #expect(throws: ClusterError.self) { try result.stored(as: .binary) }
        #expect(error?.code == .commandFailed)
    }

    @Test(
        "the schema's result_json shows either form as the same JSON fields, and malformed bytes as malformed",
        .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
    func resultJSON() async throws {
        try await ClusterTestDatabase.withStore { store in
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: InboxExecutorTests.configuration().logger)
            let cluster = "\"\(store.configuration.schema)_cluster\""
            func show(_ bytes: ByteBuffer) async throws -> [String: Any] {
                let shown = try await ClusterTestDatabase.query(
                    "SELECT \(cluster).result_json(decode('\(Self.hex(bytes))', 'hex'))::text",
                    configuration: store.configuration)
                let text = try #require(shown.first ?? nil)
                return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            }
            for result in Self.results {
                for form in [ClusterCommandResult.StoredForm.binary, .json] {
                    let object = try await show(try result.stored(as: form))
                    #expect((object["messageID"] as? String)?.uppercased() == result.messageID.uuid.uuidString)
                    #expect(object["outcome"] as? String == result.outcome.rawValue)
                    #expect((object["streamVersion"] as? NSNumber)?.uint64Value == result.streamVersion)
                    #expect((object["eventCount"] as? NSNumber)?.intValue == result.eventCount)
                    #expect(object["node"] as? String == result.node)
                    #expect(object["reason"] as? String == result.reason)
                    #expect((object["state"] != nil) == (result.state != nil))
                    #expect(object["malformed"] == nil)
                }
            }
            let balance = try await show(try Self.results[0].stored(as: .binary))["state"] as? [String: Any]
            #expect((balance?["balance"] as? NSNumber)?.intValue == 1000)
            // A state PostgreSQL's jsonb refuses (a NUL character) is shown as text.
            var withNUL = Self.results[0]
            withNUL.state = Data(#"{"name":"a\u0000b"}"#.utf8)
            #expect(try await show(try withNUL.stored(as: .binary))["state"] as? String == #"{"name":"a\u0000b"}"#)
            for bytes in try Self.malformedInputs() {
                let object = try await show(ByteBuffer(bytes: bytes))
                #expect(object["malformed"] is String, "\(Self.hex(ByteBuffer(bytes: bytes)))")
                #expect(object["node"] == nil)
            }
        }
    }

    /// `result_json` catches what it cannot convert in blocks that start subtransactions, which PostgreSQL refuses
    /// in a parallel plan; it was declared parallel safe, so a query over a large inbox (planned in parallel) failed
    /// with "cannot start subtransactions during a parallel operation". Forced into a parallel plan here.
    @Test(
        "result_json works in a query the planner would run in parallel",
        .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
    func resultJSONInAParallelQuery() async throws {
        try await ClusterTestDatabase.withStore { store in
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: InboxExecutorTests.configuration().logger)
            let cluster = "\"\(store.configuration.schema)_cluster\""
            let hex = Self.hex(try Self.results[0].stored(as: .binary))
            let shown = try await ClusterTestDatabase.query(
                "SELECT count(\(cluster).result_json(decode('\(hex)', 'hex')) ->> 'outcome')::text "
                    + "FROM generate_series(1, 1000)",
                configuration: store.configuration,
                after: [
                    // PostgreSQL 16 renamed the setting; whichever the server has.
                    "SELECT set_config(name, 'on', false) FROM pg_settings "
                        + "WHERE name IN ('force_parallel_mode', 'debug_parallel_query')",
                    "SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0",
                ])
            #expect(shown == ["1000"])
        }
    }

    @Test(
        "a cluster created now stores results in the binary form; one created before keeps JSON until switched",
        .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
    func resultFormSetting() async throws {
        try await ClusterTestDatabase.withStore { store in
            let logger = InboxExecutorTests.configuration().logger
            #expect(try await ClusterSchema.prepare(store, partitionCount: 8, logger: logger) == .binary)
            let settings = "\"\(store.configuration.schema)_cluster\".settings"
            // A cluster from before: no `result_form` row.
            _ = try await ClusterTestDatabase.query(
                "DELETE FROM \(settings) WHERE key = 'result_form' RETURNING key", configuration: store.configuration)
            #expect(try await ClusterSchema.prepare(store, partitionCount: 8, logger: logger) == .json)
            let owner = try await InboxExecutorTests.owner(store)
            #expect(owner.executor.resultForm.withLock { $0 } == .json)
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: InboxExecutorTests.configuration())
            func firstByte(_ ticket: ClusterClient.Ticket) async throws -> String? {
                try await ClusterTestDatabase.query(
                    "SELECT get_byte(outcome, 0)::text FROM \"\(store.configuration.schema)_cluster\".inbox "
                        + "WHERE id = \(ticket.row)", configuration: store.configuration
                ).first ?? nil
            }
            let before = try await client.enqueue(.add(1), to: StreamID("counter-form"), as: Counter.self)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            #expect(try await firstByte(before) == "123")
            #expect(try await client.result(of: before.messageID).streamVersion == 1)
            // The operator switches; a node reads the setting when it starts.
            _ = try await ClusterTestDatabase.query(
                "INSERT INTO \(settings) VALUES ('result_form', 1) RETURNING key", configuration: store.configuration)
            let form = try await ClusterSchema.prepare(store, partitionCount: 8, logger: logger)
            #expect(form == .binary)
            owner.executor.resultForm.withLock { $0 = form }
            let after = try await client.enqueue(.add(1), to: StreamID("counter-form"), as: Counter.self)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            #expect(try await firstByte(after) == "1")
            #expect(try await client.result(of: after.messageID).streamVersion == 2)
        }
    }
}
