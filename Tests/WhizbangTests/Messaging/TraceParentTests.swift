import Foundation
import Testing
import Whizbang

@Suite struct TraceParentTests {
    private static let example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func parsesTheW3CExample() throws {
        let value = try #require(TraceParent(Self.example))
        #expect(value.version == 0)
        #expect(value.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(value.parentID == "00f067aa0ba902b7")
        #expect(value.flags == 0x01)
        #expect(value.isSampled)
        #expect(value.description == Self.example)
    }

    @Test func unsampledFlagsAreReadBack() throws {
        let value = try #require(TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"))
        #expect(value.flags == 0)
        #expect(!value.isSampled)
        let otherFlags = try #require(TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe"))
        #expect(otherFlags.flags == 0xFE)
        #expect(!otherFlags.isSampled)
    }

    @Test(arguments: [
        "",
        "00",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  // no flags
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",  // one flag digit
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",  // uppercase parent id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",  // uppercase flags
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // all-zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // the forbidden version
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version not hexadecimal
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // trace id not hexadecimal
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",  // parent id not hexadecimal
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",  // flags not hexadecimal
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",  // a hyphen in the wrong place
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",  // wrong separators
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // version 00 has exactly four fields
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // surrounding white space
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // a later version needs a hyphen before more
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b\u{E9}-01",  // not ASCII
    ])
    func rejectsInvalidValues(text: String) {
        #expect(TraceParent(text) == nil)
    }

    @Test func acceptsLaterVersionsWithExtraFieldsAndPrintsTheKnownOnes() throws {
        let value = try #require(TraceParent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future"))
        #expect(value.version == 0xCC)
        #expect(value.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(value.parentID == "00f067aa0ba902b7")
        #expect(value.description == "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let plain = try #require(TraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        #expect(plain.version == 1)
    }

    @Test func buildsFromItsParts() throws {
        let value = try #require(
            TraceParent(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", parentID: "00f067aa0ba902b7", flags: 0x01)
        )
        #expect(value.description == Self.example)
        #expect(value == TraceParent(Self.example))
        let unsampled = try #require(
            TraceParent(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", parentID: "00f067aa0ba902b7")
        )
        #expect(unsampled.description == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
    }

    @Test(arguments: [
        ("4bf92f3577b34da6a3ce929d0e0e473", "00f067aa0ba902b7"),  // trace id too short
        ("4bf92f3577b34da6a3ce929d0e0e47360", "00f067aa0ba902b7"),  // trace id too long
        ("4BF92F3577B34DA6A3CE929D0E0E4736", "00f067aa0ba902b7"),  // uppercase
        ("00000000000000000000000000000000", "00f067aa0ba902b7"),  // all zero
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b"),  // parent id too short
        ("4bf92f3577b34da6a3ce929d0e0e4736", "0000000000000000"),  // all zero
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa-ba902b7"),  // not hexadecimal
    ])
    func rejectsInvalidParts(traceID: String, parentID: String) {
        #expect(TraceParent(traceID: traceID, parentID: parentID) == nil)
    }

    @Test func encodesAsItsTextAndRoundTrips() throws {
        let value = try #require(TraceParent(Self.example))
        let json = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        #expect(json == "\"\(Self.example)\"")
        #expect(try MessagingTestSupport.jsonRoundTrip(value) == value)
    }

    @Test func decodingAnInvalidValueThrows() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(
                TraceParent.self,
                from: Data("\"00-00000000000000000000000000000000-00f067aa0ba902b7-01\"".utf8)
            )
        }
    }
}
