#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A ``ReadModelProjection`` with its `Row` type erased to encoded rows: what stores keep and run.
///
/// Every store folds events the same way, through ``keys(of:)`` and ``fold(_:into:)``: a store loads the rows whose
/// keys a batch names, folds the batch into them, and writes the changed rows back (or deletes them).
package struct ReadModelDefinition: Sendable {
    /// A row the fold changed: its new encoded value, or `nil` to delete it.
    package struct Change: Sendable, Equatable {
        package var key: String
        package var row: ReadModelRow?
    }

    package let name: String
    package let version: Int
    package let mode: ReadModelMode
    private let eventKeys: @Sendable (RecordedEvent) throws -> [String]
    private let applyEvent: @Sendable (RecordedEvent, ReadModelRow?, String) throws -> ReadModelRow?

    package init<P: ReadModelProjection>(_ projection: P) {
        let codec = JSONPayloadCodec<P.Row>()
        name = projection.name
        version = projection.version
        mode = projection.mode
        eventKeys = { event in
            let keys = try projection.keys(of: event)
            for key in keys {
                if let problem = ReadModelRow.keyProblem(key) {
                    throw ReadModelError(
                        .invalidKey, readModel: projection.name, key: ReadModelRow.printable(key),
                        message:
                            "the key given for the event at position \(event.position) cannot be stored: \(problem)")
                }
            }
            return keys
        }
        applyEvent = { event, current, key in
            let value: P.Row?
            do {
                value = try current.map { try codec.decode($0.body) }
            } catch {
                throw ReadModelError(
                    .undecodableRow, readModel: projection.name, key: key,
                    message: "the stored row does not decode as \(P.Row.self): \(error)")
            }
            guard let next = try projection.apply(event, to: value, key: key) else { return nil }
            let indexValue = projection.indexValue(of: next)
            if let indexValue, let problem = ReadModelRow.keyProblem(indexValue) {
                throw ReadModelError(
                    .invalidKey, readModel: projection.name, key: key,
                    message: "the indexed value of the row after the event at position \(event.position) cannot be "
                        + "stored: \(problem)")
            }
            return ReadModelRow(
                key: key, indexValue: indexValue, position: event.position, body: try codec.encode(next))
        }
    }

    /// Erases each projection; the projections' names must be distinct.
    ///
    /// - Throws: ``ReadModelError`` (``ReadModelError/Code/duplicateName``) naming the first repeated name.
    package static func definitions(_ projections: [any ReadModelProjection]) throws(ReadModelError)
        -> [ReadModelDefinition]
    {
        var names = Set<String>()
        var definitions: [ReadModelDefinition] = []
        for projection in projections {
            guard names.insert(projection.name).inserted else {
                throw ReadModelError(
                    .duplicateName, readModel: projection.name,
                    message: "two read models registered with one store are named '\(projection.name)'")
            }
            definitions.append(ReadModelDefinition(projection))
        }
        return definitions
    }

    /// The distinct keys the events change, in the order they are first named.
    package func keys(of events: some Sequence<RecordedEvent>) throws -> [String] {
        var seen = Set<String>()
        var keys: [String] = []
        for event in events {
            for key in try eventKeys(event) where seen.insert(key).inserted {
                keys.append(key)
            }
        }
        return keys
    }

    /// Folds `events`, in order, into `rows` (the current rows of every key ``keys(of:)`` names; absent keys have no
    /// row) and returns the changed rows, one change per key, in the order the keys were first changed.
    package func fold(_ events: some Sequence<RecordedEvent>, into rows: [String: ReadModelRow]) throws -> [Change] {
        var current = rows
        var order: [String] = []
        var changed = Set<String>()
        for event in events {
            var keysOfEvent: [String] = []
            // A key named twice for one event is applied once.
            for key in try eventKeys(event) where !keysOfEvent.contains(key) {
                keysOfEvent.append(key)
                current[key] = try applyEvent(event, current[key], key)
                if changed.insert(key).inserted { order.append(key) }
            }
        }
        return order.map { Change(key: $0, row: current[$0]) }
    }
}
