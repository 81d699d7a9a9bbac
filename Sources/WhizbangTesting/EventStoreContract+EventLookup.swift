#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Whizbang

extension EventStoreContract {
    /// Finding an event by its id: every stored event is found whole, an unknown id is `nil`.
    static let eventLookupChecks: [EventStoreContractCheck] = [
        EventStoreContractCheck(name: "read.eventByID") { store in
            try requireEqual(try await store.event(withID: MessageID()), nil, "an id in an empty store")
            try await requireAppend(store, makeEvents(3, label: "a"), to: "a", expecting: .noStream, newVersion: 3)
            try await requireAppend(store, makeEvents(2, label: "b"), to: "b", expecting: .noStream, newVersion: 2)
            try await requireAppend(store, makeEvents(1, label: "a2"), to: "a", expecting: .exact(3), newVersion: 4)
            // An event of another schema version, so that a lookup that drops the version is caught.
            let versioned = EventData(eventType: "Evolved", schemaVersion: 2, data: Data("{}".utf8), metadata: Data())
            try await requireAppend(store, [versioned], to: "c", expecting: .noStream, newVersion: 1)
            let log = try await readWholeLog(store)
            try requireEqual(log.count, 7, "the events appended")
            try requireEqual(try await store.event(withID: versioned.eventID)?.schemaVersion, 2, "the schema version")
            for event in log {
                try requireEqual(try await store.event(withID: event.eventID), event, "the event \(event.eventID)")
            }
            try requireEqual(try await store.event(withID: MessageID()), nil, "an id that no event has")
        }
    ]
}
