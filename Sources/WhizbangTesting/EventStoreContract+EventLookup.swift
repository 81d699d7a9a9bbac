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
            let log = try await readWholeLog(store)
            try requireEqual(log.count, 6, "the events appended")
            for event in log {
                try requireEqual(try await store.event(withID: event.eventID), event, "the event \(event.eventID)")
            }
            try requireEqual(try await store.event(withID: MessageID()), nil, "an id that no event has")
        }
    ]
}
