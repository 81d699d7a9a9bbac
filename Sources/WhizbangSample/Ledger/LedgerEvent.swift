import Foundation
import Whizbang

/// Any event of the ledger's log: an account's or a transfer's.
enum LedgerEvent: Sendable, Hashable {
    case account(Account.Event)
    case transfer(Transfer.Event)

    /// Decodes a stored event by its type name and schema version, trying the account's registry (almost every
    /// event) first.
    static func decode(_ event: RecordedEvent) throws -> LedgerEvent {
        try decode(typeName: event.eventType, schemaVersion: event.schemaVersion, data: event.data)
    }

    /// Decodes an event stored under `typeName` at `schemaVersion`; see ``decode(_:)``.
    static func decode(typeName: String, schemaVersion: Int, data: Data) throws -> LedgerEvent {
        do {
            return .account(try Account.events.decode(typeName: typeName, schemaVersion: schemaVersion, data: data))
        } catch let error as EventCodingError where error.code == .unknownTypeName {
            return .transfer(try Transfer.events.decode(typeName: typeName, schemaVersion: schemaVersion, data: data))
        }
    }
}

/// The id of the command that recorded an event, read from the event's stored envelope metadata.
struct CommandIdentity: Decodable {
    let messageID: MessageID
}
