import Foundation
import Testing
import Whizbang

@Suite struct MessageIDTests {
    /// The current Unix time in whole milliseconds, as the generator reads it.
    private static func nowMilliseconds() -> UInt64 {
        UInt64(Date().timeIntervalSince1970 * 1000)
    }

    @Test func newIdentifiersAreVersion7WithTheRFCVariant() {
        for _ in 0..<1_000 {
            let id = MessageID()
            #expect(id.version == 7)
            #expect((id.high >> 12) & 0xF == 7)
            #expect(id.low >> 62 == 0b10)
            let bytes = id.bytes
            #expect(bytes[6] >> 4 == 7)
            #expect(bytes[8] >> 6 == 0b10)
            #expect(Array(id.description)[14] == "7")
        }
    }

    @Test func timestampIsWithinAFewMillisecondsOfNow() {
        let before = Self.nowMilliseconds()
        let id = MessageID()
        let after = Self.nowMilliseconds()
        #expect(id.unixMilliseconds >= before)
        #expect(id.unixMilliseconds <= after + 5)
    }

    @Test func timestampOfTheRFC9562ExampleIsReadBack() throws {
        // RFC 9562, appendix A.6: the version 7 example for Tuesday, February 22, 2022 2:22:22.00 PM GMT-05:00.
        let id = try #require(MessageID("017F22E2-79B0-7CC3-98C4-DC0C0C07398F"))
        #expect(id.version == 7)
        #expect(id.unixMilliseconds == 1_645_557_742_000)
        #expect(id.high == 0x017F_22E2_79B0_7CC3)
        #expect(id.low == 0x98C4_DC0C_0C07_398F)
    }

    @Test func identifiersMadeInATightLoopStrictlyIncrease() {
        var previous = MessageID()
        var outOfOrder = 0
        for _ in 0..<100_000 {
            let next = MessageID()
            if !(previous < next) { outOfOrder += 1 }
            previous = next
        }
        #expect(outOfOrder == 0)
    }

    @Test func identifiersMadeByConcurrentTasksAreDistinctAndIncreasePerTask() async {
        let taskCount = 8
        let perTask = 20_000
        let sequences = await withTaskGroup(of: [MessageID].self) { group in
            for _ in 0..<taskCount {
                group.addTask {
                    var ids: [MessageID] = []
                    ids.reserveCapacity(perTask)
                    for _ in 0..<perTask { ids.append(MessageID()) }
                    return ids
                }
            }
            var sequences: [[MessageID]] = []
            for await sequence in group { sequences.append(sequence) }
            return sequences
        }
        #expect(sequences.count == taskCount)
        for sequence in sequences {
            #expect(sequence.count == perTask)
            #expect(zip(sequence, sequence.dropFirst()).allSatisfy { $0 < $1 })
        }
        #expect(Set(sequences.joined()).count == taskCount * perTask)
    }

    @Test func descriptionIsCanonicalLowercaseAndParsesBack() throws {
        for _ in 0..<1_000 {
            let id = MessageID()
            let text = id.description
            #expect(text.count == 36)
            #expect(text == text.lowercased())
            #expect(text == id.uuid.uuidString.lowercased())
            #expect(MessageID(text) == id)
            #expect(MessageID(text.uppercased()) == id)
            #expect(String(describing: id) == text)
        }
    }

    @Test(arguments: [
        (MessageID(high: 0, low: 0), "00000000-0000-0000-0000-000000000000"),
        (MessageID(high: .max, low: .max), "ffffffff-ffff-ffff-ffff-ffffffffffff"),
        (
            MessageID(high: 0x0192_F1C4_7A3E_7C3D, low: 0x9A8B_1F2E_3D4C_5B6A),
            "0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a"
        ),
        (
            MessageID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210),
            "01234567-89ab-cdef-fedc-ba9876543210"
        ),
    ])
    func knownValuesPrintAndParse(id: MessageID, text: String) {
        #expect(id.description == text)
        #expect(MessageID(text) == id)
        #expect(MessageID(text.uppercased()) == id)
    }

    @Test func roundTripsThroughUUID() {
        for _ in 0..<1_000 {
            let id = MessageID()
            #expect(MessageID(id.uuid) == id)
            #expect(id.uuid.uuidString.lowercased() == id.description)
        }
        // Any UUID is accepted and kept bit for bit, whatever its version.
        let random = UUID()
        let wrapped = MessageID(random)
        #expect(wrapped.uuid == random)
        #expect(wrapped.version == 4)
    }

    @Test func roundTripsThroughBytes() throws {
        for _ in 0..<1_000 {
            let id = MessageID()
            let bytes = id.bytes
            #expect(bytes.count == 16)
            #expect(MessageID(bytes: bytes) == id)
            #expect(MessageID(bytes: bytes[...]) == id)
            #expect(MessageID(bytes: Data(bytes)) == id)
        }
        let known = MessageID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10)
        #expect(known.bytes == Array(1...16))
        #expect(MessageID(bytes: Array(UInt8(1)...16)) == known)
    }

    @Test(arguments: [0, 1, 15, 17, 32])
    func bytesOfAnyOtherLengthAreRejected(count: Int) {
        #expect(MessageID(bytes: [UInt8](repeating: 0xAB, count: count)) == nil)
    }

    @Test func encodesAsALowercaseJSONString() throws {
        let id = try #require(MessageID("0192F1C4-7A3E-7C3D-9A8B-1F2E3D4C5B6A"))
        let json = String(decoding: try JSONEncoder().encode(id), as: UTF8.self)
        #expect(json == "\"0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a\"")
    }

    @Test func roundTripsThroughJSON() throws {
        struct Holder: Codable, Equatable {
            var id: MessageID
            var optional: MessageID?
            var list: [MessageID]
        }
        let holder = Holder(id: MessageID(), optional: MessageID(), list: (0..<10).map { _ in MessageID() })
        #expect(try MessagingTestSupport.jsonRoundTrip(holder) == holder)
        for _ in 0..<100 {
            let id = MessageID()
            #expect(try MessagingTestSupport.jsonRoundTrip(id) == id)
        }
    }

    @Test(arguments: ["\"not-a-uuid\"", "\"+192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a\"", "42", "null", "[]"])
    func decodingSomethingElseThrows(json: String) {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(MessageID.self, from: Data(json.utf8))
        }
    }

    @Test(arguments: [
        "",
        "not a uuid",
        "0192f1c47a3e7c3d9a8b1f2e3d4c5b6a",  // no hyphens
        "{0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a}",  // braces
        "urn:uuid:0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a",
        " 0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a",  // leading space
        "0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a ",  // trailing space
        "0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a\n",
        "0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6",  // one digit short
        "0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6aa",  // one digit long
        "0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6g",  // not hexadecimal
        "0192f1c47-a3e-7c3d-9a8b-1f2e3d4c5b6a",  // hyphen in the wrong place
        "0192f1c4-7a3e-7c3d-9a8b_1f2e3d4c5b6a",  // wrong separator
        "+192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a",  // a sign, which strtoul-style parsers accept
        "-192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a",
        "0x92f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6a",  // a hexadecimal prefix
        "0192f1c4-0x3e-7c3d-9a8b-1f2e3d4c5b6a",
        "0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b\u{0}a",  // an embedded NUL
        "0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6\u{E9}",  // not ASCII
        "0192f1c4-7a3e-7c3d-9a8b-1f2e3d4c5b6\u{FF10}",  // a full-width digit
    ])
    func parsingRejectsMalformedStrings(text: String) {
        #expect(MessageID(text) == nil)
    }

    @Test func comparisonMatchesByteOrder() {
        // Halves drawn from edge values as well as random ones, so that equal high halves and sign bits are covered.
        let edges: [UInt64] = [0, 1, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, .max]
        func half() -> UInt64 { Bool.random() ? edges.randomElement()! : .random(in: .min ... .max) }
        var mismatches = 0
        for _ in 0..<10_000 {
            let a = MessageID(high: half(), low: half())
            let b = MessageID(high: half(), low: half())
            if (a < b) != a.bytes.lexicographicallyPrecedes(b.bytes) { mismatches += 1 }
            if (a == b) != (a.bytes == b.bytes) { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test func sortingByValueBytesAndTextAgree() {
        let ids = (0..<1_000).map { _ in MessageID(high: .random(in: .min ... .max), low: .random(in: .min ... .max)) }
        let byValue = ids.sorted()
        #expect(byValue == ids.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) })
        #expect(byValue == ids.sorted { $0.description < $1.description })
    }

    @Test func equalIdentifiersHashAlike() {
        let id = MessageID()
        let copy = MessageID(high: id.high, low: id.low)
        #expect(id == copy)
        #expect(Set([id, copy, MessageID()]).count == 2)
    }
}
