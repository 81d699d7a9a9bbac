import Foundation
import Testing
import Whizbang

/// Schema versions: writing at the current version, chains of upcasters per (name, from-version), and the
/// programmer errors the registry traps when it is built.
// Serialized: each test holds a store's connections or a child process, and the suites of the package start together;
// one at a time keeps this suite's share of the process's open files small.
@Suite(.serialized) struct EventRegistryVersionTests {
    private static func recorded(_ type: String, version: Int, _ json: String, position: UInt64 = 1) -> RecordedEvent {
        RecordedEvent(
            streamID: "patron-1", streamVersion: position, position: position, eventID: MessageID(), eventType: type,
            schemaVersion: version, data: Data(json.utf8), metadata: Data(), recordedAt: Date())
    }

    @Test func writesTheCurrentVersion() throws {
        let encoded = try Patron.events.eventData(for: .joined(.init(fullName: "Ada", tier: "gold")))
        #expect(encoded.eventType == "Joined")
        #expect(encoded.schemaVersion == 3)
        #expect(String(decoding: encoded.data, as: UTF8.self) == #"{"fullName":"Ada","tier":"gold"}"#)
        #expect(Patron.events.currentSchemaVersion(of: "Joined") == 3)
        #expect(Patron.events.currentSchemaVersion(of: "Left") == 1)
        #expect(Patron.events.currentSchemaVersion(of: "Suspended") == nil)
    }

    @Test(arguments: [
        (1, #"{"name":"Ada"}"#),
        (2, #"{"fullName":"Ada"}"#),
        (3, #"{"fullName":"Ada","tier":"standard"}"#),
    ])
    func readsEveryVersionThroughTheChain(version: Int, json: String) throws {
        let event = try Patron.events.decode(Self.recorded("Joined", version: version, json))
        #expect(event == .joined(.init(fullName: "Ada", tier: "standard")))
    }

    @Test(arguments: [
        ("Joined", 1, #"{"name":"Ada"}"#),
        ("Joined", 2, #"{"fullName":"Ada"}"#),
        ("Joined", 3, #"{"fullName":"Ada","tier":"gold"}"#),
        ("Suspended", 1, #"{"permanently":true}"#),
        ("Left", 1, #"{"reason":"moved"}"#),
    ])
    func aDecoderFoundOnceDecodesAsDecodeDoes(name: String, version: Int, json: String) throws {
        let decode = try Patron.events.decoder(typeName: name, schemaVersion: version)
        let data = Data(json.utf8)
        #expect(try decode(data) == Patron.events.decode(typeName: name, schemaVersion: version, data: data))
        // A payload that does not decode fails in the decoder, with the codec's error, as it does in decode.
        #expect(throws: DecodingError.self) { try decode(Data("{}".utf8)) }
    }

    @Test func aDecoderForAnUnknownNameOrVersionIsRefusedWhenItIsAskedFor() {
        let name = #expect(throws: EventCodingError.self) {
            _ = try Patron.events.decoder(typeName: "Renamed", schemaVersion: 1)
        }
        #expect(name?.code == .unknownTypeName)
        let version = #expect(throws: EventCodingError.self) {
            _ = try Patron.events.decoder(typeName: "Joined", schemaVersion: 4)
        }
        #expect(version?.code == .unknownSchemaVersion)
        #expect(version?.schemaVersion == 4)
    }

    @Test func aRetiredNameReadsAsOneOfTheKindsItWasSplitInto() throws {
        #expect(
            try Patron.events.decode(Self.recorded("Suspended", version: 1, #"{"permanently":true}"#))
                == .left(.init(reason: "banned")))
        #expect(
            try Patron.events.decode(Self.recorded("Suspended", version: 1, #"{"permanently":false}"#))
                == .paused(.init()))
    }

    @Test func aVersionWrittenByNewerCodeIsATypedErrorWithItsVersion() {
        let event = Self.recorded("Joined", version: 4, #"{"fullName":"Ada"}"#, position: 7)
        let error = #expect(throws: EventDecodingError.self) { try Patron.events.decode(event) }
        #expect(error?.code == .unknownSchemaVersion)
        #expect(error?.schemaVersion == 4)
        #expect(error?.position == 7)
        #expect((error?.underlyingError as? EventCodingError)?.code == .unknownSchemaVersion)
        #expect(error?.description.contains("schema version 4") == true)
    }

    @Test func aMalformedOldPayloadNamesItsVersion() {
        let event = Self.recorded("Joined", version: 1, #"{"fullName":"Ada"}"#)
        let error = #expect(throws: EventDecodingError.self) { try Patron.events.decode(event) }
        #expect(error?.code == .undecodablePayload)
        #expect(error?.schemaVersion == 1)
        #expect(error?.underlyingError is DecodingError)
    }

    @Test func aChainThatStopsShortFailsWhenAnEventNeedsTheMissingLink() throws {
        // Version 1 hands on to version 2, which nothing reads: the current kind is at version 3.
        let registry = EventRegistry<Patron.Event>()
            .registering("Joined", Patron.Joined.self, schemaVersion: 3, embed: Patron.Event.joined) {
                if case .joined(let payload) = $0 { payload } else { nil }
            }
            .upcasting("Joined", from: 1, Patron.JoinedV1.self, to: Patron.JoinedV2.self) { .init(fullName: $0.name) }
        let error = #expect(throws: EventDecodingError.self) {
            try registry.decode(Self.recorded("Joined", version: 1, #"{"name":"Ada"}"#))
        }
        #expect(error?.code == .unknownSchemaVersion)
        #expect((error?.underlyingError as? EventCodingError)?.schemaVersion == 2)
        // Version 3 itself still reads.
        #expect(
            try registry.decode(Self.recorded("Joined", version: 3, #"{"fullName":"Ada","tier":"gold"}"#))
                == .joined(.init(fullName: "Ada", tier: "gold")))
    }

    @Test func anEventAppendedAtAVersionIsReadBackAtIt() async throws {
        let store = InMemoryEventStore()
        let repository = Repository<Patron, InMemoryEventStore>(store: store)
        let loaded = try await repository.load("patron-1")
        _ = try await repository.save(try Patron.decide(.join("Ada"), loaded.state), after: loaded)
        let stored = try await store.readStream("patron-1", from: 1, direction: .forwards, limit: 10)
        #expect(stored.map(\.schemaVersion) == [3])
        #expect(try Patron.events.decode(stored[0]) == .joined(.init(fullName: "Ada", tier: "standard")))
    }

    @Test func twoUpcastersFromOneVersionStopTheProgram() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Patron.events.upcasting("Joined", from: 1, Patron.JoinedV1.self, to: Patron.JoinedV2.self) {
                .init(fullName: $0.name)
            }
        }
        let output = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(output.contains("two upcasters read version 1 of 'Joined'"), "\(output)")
    }

    @Test func anUpcasterThatHandsOnTheWrongTypeStopsTheProgram() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            // Version 3 reads Joined, not JoinedV1.
            _ = EventRegistry<Patron.Event>()
                .registering("Joined", Patron.Joined.self, schemaVersion: 3, embed: Patron.Event.joined) {
                    if case .joined(let payload) = $0 { payload } else { nil }
                }
                .upcasting("Joined", from: 2, Patron.JoinedV2.self, to: Patron.JoinedV1.self) { .init(name: $0.fullName) }
        }
        let output = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(output.contains("the upcaster from version 2 of 'Joined' returns"), "\(output)")
    }

    @Test func aCurrentKindBelowItsUpcastersStopsTheProgram() async {
        await #expect(processExitsWith: .failure) {
            _ = EventRegistry<Patron.Event>()
                .upcasting("Joined", from: 2, Patron.JoinedV2.self, to: Patron.Joined.self) {
                    .init(fullName: $0.fullName, tier: "standard")
                }
                .registering("Joined", Patron.Joined.self, schemaVersion: 2, embed: Patron.Event.joined) {
                    if case .joined(let payload) = $0 { payload } else { nil }
                }
        }
    }

    @Test func aSchemaVersionBelowOneStopsTheProgram() async {
        await #expect(processExitsWith: .failure) {
            _ = EventRegistry<Patron.Event>().registering(
                "Joined", Patron.Joined.self, schemaVersion: 0, embed: Patron.Event.joined
            ) { _ in nil }
        }
    }

    @Test func aStoreRefusesASchemaVersionOutOfRange() async throws {
        let store = InMemoryEventStore()
        for version in [0, -1, Int(Int32.max) + 1] {
            let event = EventData(eventType: "Joined", schemaVersion: version, data: Data("{}".utf8))
            await #expect {
                _ = try await store.append([event], to: "patron-1", expectedVersion: .any)
            } throws: { error in
                (error as? EventStoreError)?.code == .invalidArgument
            }
        }
    }
}

/// A library patron whose `Joined` event is at schema version 3, and whose retired `Suspended` event was split into
/// `Left` and `Paused`.
enum Patron: Aggregate {
    struct State: Codable, Sendable, Equatable { var name: String? }
    enum Command: Sendable { case join(String) }

    /// Version 1: the name was `name`.
    struct JoinedV1: Codable, Sendable { var name: String }
    /// Version 2: `name` became `fullName`.
    struct JoinedV2: Codable, Sendable { var fullName: String }
    /// Version 3: a tier, `standard` for every patron who joined before.
    struct Joined: EventPayload, Equatable {
        static let eventSchemaVersion = 3
        var fullName: String
        var tier: String
    }
    struct Left: EventPayload, Equatable { var reason: String }
    struct Paused: EventPayload, Equatable {}
    /// The retired event: `permanently` became `Left`, otherwise `Paused`.
    struct Suspended: Codable, Sendable { var permanently: Bool }

    enum Event: EventEnumeration, Equatable {
        case joined(Joined)
        case left(Left)
        case paused(Paused)

        var payload: any EventPayload {
            switch self {
            case .joined(let payload): payload
            case .left(let payload): payload
            case .paused(let payload): payload
            }
        }
    }

    static let initialState = State()
    static let events = EventRegistry<Event>(Event.joined, Event.left, Event.paused)
        .upcasting("Joined", from: 2, JoinedV2.self, to: Joined.self) { Joined(fullName: $0.fullName, tier: "standard") }
        .upcasting("Joined", from: 1, JoinedV1.self, to: JoinedV2.self) { JoinedV2(fullName: $0.name) }
        .upcasting("Suspended", Suspended.self) { $0.permanently ? .left(Left(reason: "banned")) : .paused(Paused()) }

    static func evolve(_ state: State, _ event: Event) -> State {
        guard case .joined(let joined) = event else { return state }
        return State(name: joined.fullName)
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch command {
        case .join(let name): [.joined(Joined(fullName: name, tier: "standard"))]
        }
    }
}
