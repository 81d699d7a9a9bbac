import Foundation
import Whizbang

/// Whether the ledger knows an imported event's kind: its type name at its schema version has a decoder in the
/// aggregates' registries (``LedgerEvent/decoder(typeName:schemaVersion:)``).
///
/// An event of a kind the ledger does not know makes the imported ledger unusable: `verify`, `replay` and
/// `run --keep` stop at it. The payload is not decoded here: that added 10 to 17% to the time of checking an export
/// full of transfers (their payloads are read with `JSONDecoder`), and `verify` names a payload its type does not
/// read. Nor is what the events say checked (a balance that goes negative, money that is not conserved): that is
/// `verify`'s job too. Each type name and schema version is looked up in the registries once.
struct LedgerEventCheck {
    private struct Kind: Hashable {
        var typeName: String
        var schemaVersion: Int
    }

    /// The kinds found in the registries so far.
    private var known: Set<Kind> = []

    /// Checks that the ledger has a decoder for `event`'s type name at its schema version.
    ///
    /// - Throws: an ``ImportProblem`` naming the type (and the schema version) that the ledger does not read.
    mutating func check(_ event: EventData) throws(ImportProblem) {
        let kind = Kind(typeName: event.eventType, schemaVersion: event.schemaVersion)
        guard !known.contains(kind) else { return }
        do {
            _ = try LedgerEvent.decoder(typeName: kind.typeName, schemaVersion: kind.schemaVersion)
        } catch let error as EventCodingError where error.code == .unknownSchemaVersion {
            throw ImportProblem(
                "eventType '\(kind.typeName)' at schemaVersion \(kind.schemaVersion) is not one the ledger reads (it "
                    + "has no decoder for that version), so it could not read the event back")
        } catch let error as EventCodingError where error.code == .unknownTypeName {
            throw ImportProblem(
                "eventType '\(kind.typeName)' is not an event of the ledger (it has no decoder for that type), so it "
                    + "could not read the event back")
        } catch {
            throw ImportProblem("eventType '\(kind.typeName)' cannot be read: \(OneLine.text("\(error)"))")
        }
        known.insert(kind)
    }
}
