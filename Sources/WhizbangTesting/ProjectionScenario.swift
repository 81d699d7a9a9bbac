#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Whizbang

/// A given-then test of a projection: given these events in the log, then the read model looks like this.
///
/// Build the log from an aggregate's typed events with ``given(_:stream:_:causedBy:file:line:)``: each call appends
/// them to a stream, encoded through the aggregate's `EventRegistry`, at the next global positions and stream
/// versions, with an encoded `EnvelopeMetadata` as their metadata, exactly as the `Dispatcher` stores them. The
/// `then` methods apply the whole log to the projection, in batches as a `ProjectionRunner` would (only the events of
/// the projection's `Projection/eventTypes`, when it names them, and no empty batch), and check the read model.
/// Expectations throw ``ScenarioFailure``, so the kit works under any test framework:
///
/// ```swift
/// @Test func balancesAddUp() async throws {
///     try await ProjectionScenario(BalancesProjection())
///         .given(Account.self, stream: "account-1", [.opened(Opened()), .deposited(Deposited(amount: 10))])
///         .then({ await $0.balance(of: "account-1") }, equals: 10)
/// }
/// ```
///
/// Each `then` applies the log to the projection again: projections are usually reference types, so give each
/// scenario a fresh projection and call `then` once, combining the checks in its closure.
public struct ProjectionScenario<P: Projection>: Sendable {
    /// The projection under test.
    public let projection: P
    /// The events given so far, in global order.
    public private(set) var events: [RecordedEvent] = []
    /// The most events in one `Projection/apply(_:)` call; `nil` applies the whole log in one batch.
    public var batchSize: Int?
    /// Whether to apply the whole log a second time before checking, as a runner does after a crash between
    /// applying and checkpointing. Default: `true` for projections whose checkpoint is kept in the event store
    /// (their `Projection/apply(_:)` must be idempotent), `false` for those that keep their own.
    public var redelivers: Bool

    /// A scenario for `projection`, with an empty log.
    ///
    /// - Parameters:
    ///   - projection: the projection, fresh (its read model empty).
    ///   - batchSize: the most events per `Projection/apply(_:)` call; `nil`, the default, applies them at once.
    public init(_ projection: P, batchSize: Int? = nil) {
        self.projection = projection
        self.batchSize = batchSize
        self.redelivers = projection.checkpointStorage == .eventStore
    }

    /// A scenario with `events` of aggregate `A` appended to `stream`, after the events already given.
    ///
    /// - Parameters:
    ///   - aggregate: the aggregate whose registry encodes the events.
    ///   - stream: the stream; its versions continue from the events already given to it.
    ///   - events: the events, in order.
    ///   - cause: the envelope stored as the events' metadata, as if a command with it recorded them. Default: a new
    ///     envelope for `stream`, starting its own conversation.
    ///   - file: the file a failure is reported at; leave the default, the caller's `#fileID`.
    ///   - line: the line a failure is reported at; leave the default, the caller's `#line`.
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unregisteredEvent``) if the registry cannot encode
    ///   an event.
    public func given<A: Aggregate>(
        _ aggregate: A.Type,
        stream: StreamID,
        _ events: [A.Event],
        causedBy cause: EnvelopeMetadata? = nil,
        file: String = #fileID,
        line: Int = #line
    ) throws(ScenarioFailure) -> ProjectionScenario {
        var copy = self
        try copy.events.appendGiven(aggregate, stream: stream, events, causedBy: cause, file: file, line: line)
        return copy
    }

    /// A scenario with `events` appended to the log as they are; their positions should continue the log's.
    public func given(_ events: [RecordedEvent]) -> ProjectionScenario {
        var copy = self
        copy.events += events
        return copy
    }

    /// Applies the log, then checks the read model with `check`.
    ///
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unexpectedReadModel``) if `check` returns `false` or a
    ///   projection that keeps its own checkpoint reports another `Projection/position()` than that of the last event
    ///   it was given; (`unexpectedError`) if applying the events throws; what `check` throws.
    public func then(
        file: String = #fileID,
        line: Int = #line,
        _ check: (P) async throws -> Bool
    ) async throws {
        try await applyLog(file: file, line: line)
        guard try await check(projection) else {
            throw ScenarioFailure(
                .unexpectedReadModel,
                "the read model of '\(projection.name)' does not pass the check" + redeliveryNote, file: file,
                line: line)
        }
    }

    /// Applies the log, then checks that `read` returns `expected`.
    ///
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unexpectedReadModel``) with both values if they
    ///   differ, and as ``then(file:line:_:)``.
    public func then<Value: Equatable>(
        _ read: (P) async throws -> Value,
        equals expected: Value,
        file: String = #fileID,
        line: Int = #line
    ) async throws {
        try await applyLog(file: file, line: line)
        let actual = try await read(projection)
        guard actual == expected else {
            throw ScenarioFailure(
                .unexpectedReadModel,
                "expected the read model of '\(projection.name)' to give \(expected), got \(actual)" + redeliveryNote,
                file: file, line: line)
        }
    }

    /// What a failed check adds when the log was applied twice (``redelivers``), which a projection that is not
    /// idempotent shows as a wrong value.
    private var redeliveryNote: String {
        guard redelivers else { return "" }
        return " (the log was applied twice, as a runner redelivers it after a crash between applying and saving the "
            + "checkpoint: `apply(_:)` must be idempotent; set `redelivers` to false to check one delivery)"
    }

    private func applyLog(file: String, line: Int) async throws {
        do {
            try await applyOnce()
            if redelivers { try await applyOnce() }
        } catch {
            throw ScenarioFailure(
                .unexpectedError, "applying the events to '\(projection.name)' threw \(error)", file: file, line: line)
        }
        guard projection.checkpointStorage == .projection else { return }
        // The position of the last event the projection was given: of its types, when it names them.
        let types = projection.eventTypes
        let expected = events.last { event in types.map { $0.contains(event.eventType) } ?? true }?.position ?? 0
        let position: UInt64
        do {
            position = try await projection.position()
        } catch {
            throw ScenarioFailure(
                .unexpectedError, "'\(projection.name)' keeps its own checkpoint but position() threw \(error)",
                file: file, line: line)
        }
        guard position == expected else {
            throw ScenarioFailure(
                .unexpectedReadModel,
                "'\(projection.name)' keeps its own checkpoint but reports position \(position) after the events "
                    + "through \(expected)", file: file, line: line)
        }
    }

    private func applyOnce() async throws {
        guard !events.isEmpty else { return }
        let size = Swift.max(1, batchSize ?? events.count)
        var start = 0
        while start < events.count {
            let end = Swift.min(start + size, events.count)
            let batch = events[start..<end]
            let applied = projection.eventTypes.map { types in batch.filter { types.contains($0.eventType) } }
                ?? Array(batch)
            if !applied.isEmpty { try await projection.apply(applied) }
            start = end
        }
    }
}
