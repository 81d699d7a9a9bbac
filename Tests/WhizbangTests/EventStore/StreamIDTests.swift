import Testing
import Whizbang

@Suite struct StreamIDTests {
    let composed: StreamID = "caf\u{E9}"
    let decomposed: StreamID = "cafe\u{301}"

    @Test func canonicallyEquivalentIDsAreDifferentStreams() {
        // Equal as Swift Strings (canonical equivalence), different UTF-8 bytes.
        #expect(composed.rawValue == decomposed.rawValue)
        #expect(composed != decomposed)
        #expect(Set([composed, decomposed]).count == 2)
        var versions: [StreamID: Int] = [:]
        versions[composed] = 1
        versions[decomposed] = 2
        #expect(versions[composed] == 1)
        #expect(versions[decomposed] == 2)
    }

    @Test func idsThatDifferOnlyInCaseAreDifferentStreams() {
        #expect(StreamID("Account-1") != StreamID("account-1"))
        #expect(Set<StreamID>(["Account-1", "account-1", "ACCOUNT-1"]).count == 3)
    }

    @Test func equalBytesAreOneStream() {
        let built = StreamID(String(decoding: Array("cafe\u{301}".utf8), as: UTF8.self))
        #expect(built == decomposed)
        #expect(built.hashValue == decomposed.hashValue)
    }

    @Test func orderIsByteOrderAndConsistentWithEquality() {
        // U+00E9 encodes as C3 A9, after "e" (65): the composed id sorts after the decomposed one.
        #expect(decomposed < composed)
        #expect(!(composed < decomposed))
        #expect(StreamID("B") < StreamID("a"))
        #expect([composed, decomposed, "caf"].sorted() == ["caf", decomposed, composed])
    }

    @Test func aNULCharacterIsRefused() {
        #expect(throws: EventStoreError.self) { try StreamID("a\u{0}b").validate() }
    }
}
