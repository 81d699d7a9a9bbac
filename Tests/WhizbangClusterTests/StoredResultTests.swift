import Foundation
import NIOCore
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// The form in which a node keeps a command's result in the inbox, and the JSON form of earlier nodes.
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

    @Test("a result reads back equal from the binary form and from the JSON form of earlier nodes")
    func roundTrips() throws {
        for result in Self.results {
            let stored = try result.storedForm()
            #expect(stored.getInteger(at: 0, as: UInt8.self) == ClusterCommandResult.binaryForm)
            #expect(try ClusterCommandResult(stored: stored) == result)
            let json = ByteBuffer(bytes: try JSONEncoder().encode(result))
            #expect(try ClusterCommandResult(stored: json) == result)
        }
    }

    @Test("the binary form's bytes are those the documentation gives")
    func layout() throws {
        let stored = try Self.results[0].storedForm()
        let expected: [UInt8] =
            [1, 1]
            + [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10]
            + [0, 0, 0, 0, 0, 0, 0, 42] + [0, 0, 0, 2]
            + [0, 0, 0, 6] + Array("node-1".utf8)
            + [0xFF, 0xFF, 0xFF, 0xFF]
            + [0, 0, 0, 16] + Array(#"{"balance":1000}"#.utf8)
        #expect(Array(stored.readableBytesView) == expected)
    }

    @Test("a stored result that is empty, cut short, too long, of an unknown form or outcome is malformedResult")
    func malformed() throws {
        let good = Array(try Self.results[0].storedForm().readableBytesView)
        var unknownOutcome = good
        unknownOutcome[1] = 9
        var lengthPastEnd = good
        lengthPastEnd[30] = 0x7F
        let cases: [[UInt8]] = [
            [], [2] + good.dropFirst(), unknownOutcome, Array(good.dropLast()), Array(good.prefix(20)), good + [0],
            lengthPastEnd, Array("{\"outcome\":".utf8),
        ]
        for bytes in cases {
            #expect(throws: ClusterError.self) {
                try ClusterCommandResult(stored: ByteBuffer(bytes: bytes))
            }
            do {
                _ = try ClusterCommandResult(stored: ByteBuffer(bytes: bytes))
            } catch {
                #expect(error.code == .malformedResult, "\(bytes.prefix(4)): \(error)")
            }
        }
    }

    @Test(
        "the schema's result_json shows either form as the same JSON fields",
        .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(1)))
    func resultJSON() async throws {
        try await ClusterTestDatabase.withStore { store in
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: InboxExecutorTests.configuration().logger)
            let cluster = "\"\(store.configuration.schema)_cluster\""
            for result in Self.results {
                for stored in [try result.storedForm(), ByteBuffer(bytes: try JSONEncoder().encode(result))] {
                    let hex = stored.readableBytesView.map { String(format: "%02x", $0) }.joined()
                    let shown = try await ClusterTestDatabase.query(
                        "SELECT \(cluster).result_json(decode('\(hex)', 'hex'))::text", configuration: store.configuration)
                    let text = try #require(shown.first ?? nil)
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                    #expect((object["messageID"] as? String)?.uppercased() == result.messageID.uuid.uuidString)
                    #expect(object["outcome"] as? String == result.outcome.rawValue)
                    #expect((object["streamVersion"] as? NSNumber)?.uint64Value == result.streamVersion)
                    #expect((object["eventCount"] as? NSNumber)?.intValue == result.eventCount)
                    #expect(object["node"] as? String == result.node)
                    #expect(object["reason"] as? String == result.reason)
                    #expect((object["state"] != nil) == (result.state != nil))
                }
            }
            let binary = try Self.results[0].storedForm().readableBytesView.map { String(format: "%02x", $0) }.joined()
            let state = try await ClusterTestDatabase.query(
                "SELECT (\(cluster).result_json(decode('\(binary)', 'hex'))->'state'->>'balance')",
                configuration: store.configuration)
            #expect(state == ["1000"])
        }
    }
}
