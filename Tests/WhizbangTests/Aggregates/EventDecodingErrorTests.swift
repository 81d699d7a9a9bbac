import Foundation
import Testing
import Whizbang

/// A stored event that does not decode is reported with its place in the store and the codec's error.
@Suite struct EventDecodingErrorTests {
    /// A store with an unrelated event first (so positions and stream versions differ), then two good events and a
    /// malformed one in `account-1`.
    static func storeWithAMalformedEvent(typeName: String = "Deposited") async throws -> InMemoryEventStore {
        let store = InMemoryEventStore()
        _ = try await store.append(
            [EventData(eventType: "Opened", data: Data(#"{"initialDeposit":1}"#.utf8))], to: "account-0",
            expectedVersion: .any)
        _ = try await store.append(
            [
                EventData(eventType: "Opened", data: Data(#"{"initialDeposit":5}"#.utf8)),
                EventData(eventType: "Deposited", data: Data(#"{"amount":1}"#.utf8)),
                EventData(eventType: typeName, data: Data(#"{"amount":"twelve"}"#.utf8)),
            ], to: "account-1", expectedVersion: .any)
        return store
    }

    @Test func loadingAnAggregateNamesTheEventThatDidNotDecode() async throws {
        let store = try await Self.storeWithAMalformedEvent()
        let repository = Repository<BankAccount, InMemoryEventStore>(store: store)
        let error = await #expect(throws: EventDecodingError.self) { _ = try await repository.load("account-1") }
        #expect(error?.code == .undecodablePayload)
        #expect(error?.streamID == "account-1")
        #expect(error?.streamVersion == 3)
        #expect(error?.position == 4)
        #expect(error?.typeName == "Deposited")
        #expect(error?.schemaVersion == 1)
        #expect(error?.underlyingError is DecodingError)
        let description = error.map(String.init(describing:)) ?? ""
        #expect(description.contains("'account-1'") && description.contains("version 3"))
        #expect(description.contains("position 4") && description.contains("'Deposited'"))
        #expect(description.contains("schema version 1"))
    }

    @Test func anUnknownTypeNameWhileLoadingIsReportedWithItsPlace() async throws {
        let store = try await Self.storeWithAMalformedEvent(typeName: "Frozen")
        let repository = Repository<BankAccount, InMemoryEventStore>(store: store)
        let error = await #expect(throws: EventDecodingError.self) { _ = try await repository.load("account-1") }
        #expect(error?.code == .unknownTypeName)
        #expect(error?.typeName == "Frozen")
        #expect(error?.streamVersion == 3)
        #expect((error?.underlyingError as? EventCodingError)?.code == .unknownTypeName)
    }

    @Test func aProjectionDecodingAnEventGetsTheSameContext() async throws {
        let store = try await Self.storeWithAMalformedEvent()
        let events = try await store.readAll(after: 0, limit: 10)
        #expect(try events[0].decode(as: BankAccount.self) == .opened(.init(initialDeposit: 1)))
        let error = #expect(throws: EventDecodingError.self) { _ = try events[3].decode(as: BankAccount.self) }
        #expect(error?.position == 4)
        #expect(error?.streamID == "account-1")
        #expect(error?.eventID == events[3].eventID)
    }

    @Test func anEventOfAnotherAggregateIsStillSkippedByAProjection() throws {
        let event = RecordedEvent(
            streamID: "order-1", streamVersion: 1, position: 1, eventID: MessageID(), eventType: "OrderPlaced",
            data: Data("{}".utf8), metadata: Data(), recordedAt: Date())
        #expect(try event.decode(as: BankAccount.self) == nil)
    }
}
