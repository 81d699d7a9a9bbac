import Foundation
import Testing
import Whizbang

@Suite struct EventRegistryTests {
    @Test func encodesUnderTheRegisteredNameAndDecodesBack() throws {
        let event = BankAccount.Event.deposited(.init(amount: 12))
        let encoded = try BankAccount.events.eventData(for: event)
        #expect(encoded.eventType == "Deposited")
        #expect(encoded.schemaVersion == 1)
        #expect(String(decoding: encoded.data, as: UTF8.self) == #"{"amount":12}"#)
        #expect(try BankAccount.events.decode(typeName: "Deposited", schemaVersion: 1, data: encoded.data) == event)
    }

    @Test func decodesALogOfMixedTypes() throws {
        let events: [BankAccount.Event] = [.opened(.init(initialDeposit: 5)), .deposited(.init(amount: 1)),
            .withdrawn(.init(amount: 2))]
        let decoded = try events.map { event in
            let encoded = try BankAccount.events.eventData(for: event)
            return try BankAccount.events.decode(
                typeName: encoded.eventType, schemaVersion: encoded.schemaVersion, data: encoded.data)
        }
        #expect(decoded == events)
        #expect(BankAccount.events.typeNames == ["Opened", "Deposited", "Withdrawn"])
    }

    @Test func anUnknownTypeNameIsATypedError() {
        #expect {
            _ = try BankAccount.events.decode(typeName: "Closed", schemaVersion: 1, data: Data("{}".utf8))
        } throws: { error in
            (error as? EventCodingError)?.code == .unknownTypeName && (error as? EventCodingError)?.typeName == "Closed"
        }
    }

    @Test func anUnregisteredEventCannotBeEncoded() {
        let partial = EventRegistry<BankAccount.Event>()
            .registering("Opened", BankAccount.Opened.self, embed: BankAccount.Event.opened) {
                if case .opened(let event) = $0 { event } else { nil }
            }
        #expect {
            _ = try partial.eventData(for: .deposited(.init(amount: 1)))
        } throws: { error in
            (error as? EventCodingError)?.code == .unregisteredEvent
        }
    }

    @Test func upcastsAnOlderStoredShape() throws {
        struct DepositedV0: Decodable, Sendable { var cents: Int }
        let registry = BankAccount.events.upcasting("DepositedInCents", DepositedV0.self) { old in
            .deposited(.init(amount: old.cents / 100))
        }
        let event = try registry.decode(
            typeName: "DepositedInCents", schemaVersion: 1, data: Data(#"{"cents":1200}"#.utf8))
        #expect(event == .deposited(.init(amount: 12)))
        // Current events are still written under their current names.
        #expect(try registry.eventData(for: event).eventType == "Deposited")
    }

    @Test func aMalformedPayloadFailsToDecode() {
        #expect(throws: DecodingError.self) {
            _ = try BankAccount.events.decode(typeName: "Deposited", schemaVersion: 1, data: Data("{".utf8))
        }
    }
}
