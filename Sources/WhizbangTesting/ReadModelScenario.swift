#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Whizbang

/// A given-then test of a read model (a `ReadModelProjection`): given these events in the log, then these rows.
///
/// The log is built as ``ProjectionScenario`` builds it. The `then` methods fold the whole log through the same fold
/// every store runs, in memory, and check the rows; a store applies each event to a read model exactly once, so
/// there is no redelivery to check. Inline and async read models are folded alike: the mode only says when a store
/// applies the events.
///
/// ```swift
/// @Test func loansAreListedByMember() throws {
///     try ReadModelScenario(LoansByMember())
///         .given(Book.self, stream: "book-1", [.lent(Lent(member: "ada"))])
///         .then(key: "ada", equals: LoansByMember.Row(member: "ada", books: ["book-1"]))
/// }
/// ```
///
/// Expectations throw ``ScenarioFailure``, so the kit works under any test framework.
public struct ReadModelScenario<P: ReadModelProjection>: Sendable {
    /// The read model under test.
    public let projection: P
    /// The events given so far, in global order.
    public private(set) var events: [RecordedEvent] = []

    /// A scenario for `projection`, with an empty log.
    public init(_ projection: P) {
        self.projection = projection
    }

    /// A scenario with `events` of aggregate `A` appended to `stream`, after the events already given; see
    /// ``ProjectionScenario/given(_:stream:_:causedBy:file:line:)``.
    ///
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unregisteredEvent``) if the registry cannot encode
    ///   an event.
    public func given<A: Aggregate>(
        _ aggregate: A.Type,
        stream: StreamID,
        _ events: [A.Event],
        causedBy cause: EnvelopeMetadata? = nil,
        file: String = #fileID,
        line: Int = #line
    ) throws(ScenarioFailure) -> ReadModelScenario {
        var copy = self
        try copy.events.appendGiven(aggregate, stream: stream, events, causedBy: cause, file: file, line: line)
        return copy
    }

    /// A scenario with `events` appended to the log as they are; their positions should continue the log's.
    public func given(_ events: [RecordedEvent]) -> ReadModelScenario {
        var copy = self
        copy.events += events
        return copy
    }

    /// The rows after the whole log, in ascending UTF-8 key order, as a store would serve them.
    ///
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unexpectedError``) if the projection throws or a row
    ///   does not encode or decode, or if the projection's version is outside
    ///   `ReadModelProjection.versionRange` (every store refuses to open with it).
    public func rows(file: String = #fileID, line: Int = #line) throws(ScenarioFailure) -> [ReadModel<P>.Entry] {
        let codec = JSONPayloadCodec<P.Row>()
        let definition: ReadModelDefinition
        do {
            // The checks a store makes when it opens, so that a scenario does not pass what no store accepts.
            definition = try ReadModelDefinition.definitions([projection])[0]
        } catch {
            throw ScenarioFailure(
                .unexpectedError, "every store refuses read model '\(projection.name)': \(error.message)", file: file,
                line: line)
        }
        do {
            let changes = try definition.fold(events, into: [:])
            return try changes.compactMap { change in
                try change.row.map { row in
                    ReadModel<P>.Entry(
                        key: row.key, indexValue: row.indexValue, position: row.position,
                        value: try codec.decode(row.body))
                }
            }
            .sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        } catch {
            throw ScenarioFailure(
                .unexpectedError, "folding the events into '\(projection.name)' threw \(error)", file: file,
                line: line)
        }
    }

    /// Folds the log, then checks that the row under `key` is `expected` (`nil`: that there is no row).
    ///
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unexpectedReadModel``) with both values if they
    ///   differ, and as ``rows(file:line:)``.
    public func then(key: String, equals expected: P.Row?, file: String = #fileID, line: Int = #line)
        throws(ScenarioFailure) where P.Row: Equatable
    {
        let actual = try rows(file: file, line: line).first { $0.key.utf8.elementsEqual(key.utf8) }?.value
        guard actual == expected else {
            throw ScenarioFailure(
                .unexpectedReadModel,
                "expected the row '\(key)' of '\(projection.name)' to be \(String(describing: expected)), got "
                    + "\(String(describing: actual))", file: file, line: line)
        }
    }

    /// Folds the log, then checks that `query` selects rows with exactly the keys `expected`, in order.
    ///
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unexpectedReadModel``) with both lists if they
    ///   differ, and as ``rows(file:line:)``.
    public func then(_ query: ReadModelQuery, keys expected: [String], file: String = #fileID, line: Int = #line)
        throws(ScenarioFailure)
    {
        let selected = try rows(file: file, line: line).filter { entry in
            query.matches(
                ReadModelRow(key: entry.key, indexValue: entry.indexValue, position: entry.position, body: Data()))
        }
        let actual = selected.prefix(query.limit).map(\.key)
        guard actual == expected else {
            throw ScenarioFailure(
                .unexpectedReadModel,
                "expected \(query) on '\(projection.name)' to select \(expected), got \(Array(actual))", file: file,
                line: line)
        }
    }

    /// Folds the log, then checks every row with `check`.
    ///
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unexpectedReadModel``) if `check` returns `false`, as
    ///   ``rows(file:line:)``, and what `check` throws.
    public func then(
        file: String = #fileID, line: Int = #line, _ check: ([ReadModel<P>.Entry]) throws -> Bool
    ) throws {
        guard try check(try rows(file: file, line: line)) else {
            throw ScenarioFailure(
                .unexpectedReadModel, "the rows of '\(projection.name)' do not pass the check", file: file,
                line: line)
        }
    }
}
