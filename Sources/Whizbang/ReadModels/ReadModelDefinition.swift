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

    /// The versions every store accepts (``ReadModelProjection/versionRange``).
    package static var versionRange: ClosedRange<Int> { Int(Int32.min)...Int(Int32.max) - 1 }

    /// Erases each projection; the projections' names must be distinct, not empty and without a NUL character, and
    /// their versions in ``ReadModelProjection/versionRange``.
    ///
    /// - Throws: ``ReadModelError``: ``ReadModelError/Code/invalidName`` naming the first name no store keeps,
    ///   ``ReadModelError/Code/duplicateName`` naming the first repeated name,
    ///   ``ReadModelError/Code/invalidVersion`` naming the first projection whose version is out of range.
    package static func definitions(_ projections: [any ReadModelProjection]) throws(ReadModelError)
        -> [ReadModelDefinition]
    {
        var names = Set<String>()
        var definitions: [ReadModelDefinition] = []
        for projection in projections {
            // PostgreSQL's text keeps no NUL character: such a name failed every call of a PostgreSQL store.
            guard !projection.name.isEmpty, !projection.name.utf8.contains(0) else {
                throw ReadModelError(
                    .invalidName, readModel: projection.name,
                    message: projection.name.isEmpty
                        ? "a read model has an empty name; give it one"
                        : "read model name \(projection.name.debugDescription) holds a NUL character, which not every "
                            + "store can keep; give it another name")
            }
            guard names.insert(projection.name).inserted else {
                throw ReadModelError(
                    .duplicateName, readModel: projection.name,
                    message: "two read models registered with one store are named '\(projection.name)'")
            }
            let versions = versionRange
            guard versions.contains(projection.version) else {
                throw ReadModelError(
                    .invalidVersion, readModel: projection.name,
                    message: "read model '\(projection.name)' has version \(projection.version), outside "
                        + "\(versions.lowerBound)...\(versions.upperBound)")
            }
            definitions.append(ReadModelDefinition(projection))
        }
        return definitions
    }

    /// The distinct keys the events change, in the order they are first named; keys are told apart by their UTF-8
    /// bytes, as the stores keep them (two spellings of "café" are two keys).
    package func keys(of events: some Sequence<RecordedEvent>) throws -> [String] {
        var seen = Set<UTF8Key>()
        var keys: [String] = []
        for event in events {
            for key in try eventKeys(event) where seen.insert(UTF8Key(key)).inserted {
                keys.append(key)
            }
        }
        return keys
    }

    /// Folds `events`, in order, into `rows` (the current rows of every key ``keys(of:)`` names; absent keys have no
    /// row) and returns the changed rows, one change per key, in the order the keys were first changed.
    /// Keys are told apart by their UTF-8 bytes, as in ``keys(of:)``.
    package func fold(_ events: some Sequence<RecordedEvent>, into rows: [UTF8Key: ReadModelRow]) throws -> [Change] {
        var current = rows
        var order: [UTF8Key] = []
        var changed = Set<UTF8Key>()
        for event in events {
            var keysOfEvent: [UTF8Key] = []
            // A key named twice for one event is applied once.
            for text in try eventKeys(event) {
                let key = UTF8Key(text)
                guard !keysOfEvent.contains(key) else { continue }
                keysOfEvent.append(key)
                current[key] = try applyEvent(event, current[key], text)
                if changed.insert(key).inserted { order.append(key) }
            }
        }
        return order.map { Change(key: $0.text, row: current[$0]) }
    }
}
