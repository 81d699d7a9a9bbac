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
        try decoder(typeName: typeName, schemaVersion: schemaVersion)(data)
    }

    /// The decoder of events stored under `typeName` at `schemaVersion`, found once in the account's registry or,
    /// for a name it does not know, the transfer's.
    ///
    /// - Throws: the registry's `EventCodingError` when neither decodes that name and version.
    static func decoder(typeName: String, schemaVersion: Int) throws -> @Sendable (Data) throws -> LedgerEvent {
        do {
            let decode = try Account.events.decoder(typeName: typeName, schemaVersion: schemaVersion)
            return { .account(try decode($0)) }
        } catch let error as EventCodingError where error.code == .unknownTypeName {
            let decode = try Transfer.events.decoder(typeName: typeName, schemaVersion: schemaVersion)
            return { .transfer(try decode($0)) }
        }
    }
}
