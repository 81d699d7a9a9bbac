#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization
public import Whizbang

/// A given-when-then test of a process manager: given this history, when these events happen, then it sends these
/// commands — and sends nothing new when the events are delivered again.
///
/// The scenario runs the real thing on an `InMemoryEventStore`: a `Dispatcher` over it, the
/// process manager made from that dispatcher, and a `ProjectionRunner` that delivers the events. The
/// history (``given(_:stream:_:causedBy:file:line:)``) is appended to the store and counted as already handled: the
/// process manager's checkpoint is moved past it. The new events (``when(_:stream:_:causedBy:file:line:)``) are
/// appended after it. A `then` runs the process manager until it has settled
/// (`ProjectionRunner/waitUntilCaughtUp()`: every new event handled, including those its own commands
/// recorded), then reads the commands it sent from the events they recorded (``SentCommand``). No wait is for a
/// length of time.
///
/// ```swift
/// @Test func aTransferDebitsTheSource() async throws {
///     let scenario = ProcessManagerScenario { dispatcher in
///         TransferProcess(
///             accounts: dispatcher.aggregate(Account.self), transfers: dispatcher.aggregate(Transfer.self))
///     }
///     try await scenario.given(Account.self, stream: "account-a", [.opened, .deposited(.init(amount: 100))])
///     let requested = try await scenario.when(Transfer.self, stream: "transfer-1", [.requested(...)])
///     try await scenario.then(commands: [
///         ExpectedCommand(
///             Account.self, to: "account-a", id: MessageID(derivedFrom: requested[0].eventID, step: "debit"),
///             causedBy: requested[0].eventID, recording: [.withdrawn(.init(amount: 30))]),
///         ...
///     ])
/// }
/// ```
///
/// With ``redelivers`` (the default), `then` also delivers the new events a second time, as a runner does after a
/// crash that lost its checkpoint, and fails with ``ScenarioFailure/Code/repeatedCommands`` if that records
/// anything: the process manager's commands must be idempotent. Expectations throw ``ScenarioFailure``, so the kit
/// works under any test framework.
///
/// Only commands that recorded events are seen; one the aggregate accepted without recording anything, or rejected,
/// leaves no trace — check the aggregate's state for those. A process manager that keeps its own checkpoint
/// (`ProjectionCheckpointStorage/projection`) is delivered the history too.
public final class ProcessManagerScenario<Manager: ProcessManager>: Sendable {
    /// The store the scenario appends to and the process manager's commands are recorded in.
    public let store: InMemoryEventStore
    /// The dispatcher the process manager was made with.
    public let dispatcher: Dispatcher<InMemoryEventStore>
    /// The process manager under test.
    public let processManager: Manager
    /// Whether a `then` delivers the new events a second time and fails if that records anything.
    public let redelivers: Bool

    private struct Marks {
        /// The position of the last event of the history.
        var historyEnd: UInt64 = 0
        /// The position of the last new event.
        var newEventsEnd: UInt64 = 0
    }

    private let marks = Mutex(Marks())

    /// A scenario with an empty store.
    ///
    /// - Parameters:
    ///   - redelivers: whether a `then` delivers the new events a second time and checks that nothing new is
    ///     recorded. Default: `true`.
    ///   - configuration: the dispatcher's configuration. Default: the documented defaults.
    ///   - makeProcessManager: makes the process manager from the scenario's dispatcher, usually by asking it for the
    ///     aggregate handles the process manager sends commands through.
    public init(
        redelivers: Bool = true,
        configuration: DispatcherConfiguration = DispatcherConfiguration(),
        _ makeProcessManager: (Dispatcher<InMemoryEventStore>) throws -> Manager
    ) rethrows {
        self.store = InMemoryEventStore()
        self.dispatcher = Dispatcher(store: store, configuration: configuration)
        self.processManager = try makeProcessManager(dispatcher)
        self.redelivers = redelivers
    }

    /// Appends history the process manager has already handled: `events` of aggregate `A` to `stream`.
    ///
    /// Call it before ``when(_:stream:_:causedBy:file:line:)``.
    ///
    /// - Parameters:
    ///   - aggregate: the aggregate whose registry encodes the events.
    ///   - stream: the stream; its versions continue from the events already in it.
    ///   - events: the events, in order.
    ///   - cause: the envelope stored as the events' metadata, as if a command with it recorded them. Default: a new
    ///     envelope for `stream`, starting its own conversation.
    ///   - file: the file a failure is reported at; leave the default, the caller's `#fileID`.
    ///   - line: the line a failure is reported at; leave the default, the caller's `#line`.
    /// - Returns: the events as stored, with their ids and positions.
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unregisteredEvent``) if an event does not encode, or
    ///   (``ScenarioFailure/Code/unexpectedError``) if new events were already given; the store's errors.
    @discardableResult
    public func given<A: Aggregate>(
        _ aggregate: A.Type,
        stream: StreamID,
        _ events: [A.Event],
        causedBy cause: EnvelopeMetadata? = nil,
        file: String = #fileID,
        line: Int = #line
    ) async throws -> [RecordedEvent] {
        guard marks.withLock({ $0.newEventsEnd == 0 }) else {
            throw ScenarioFailure(
                .unexpectedError, "history must be given before the new events", file: file, line: line)
        }
        let recorded = try await append(A.self, stream: stream, events, causedBy: cause, file: file, line: line)
        let end = try await store.headPosition()
        marks.withLock { $0.historyEnd = end }
        try await store.saveCheckpoint(end, for: processManager.name)
        return recorded
    }

    /// Appends new events, which the process manager handles in the `then` that follows.
    ///
    /// - Parameters: as ``given(_:stream:_:causedBy:file:line:)``.
    /// - Returns: the events as stored; pass their `RecordedEvent/eventID` as the expected commands'
    ///   cause.
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unregisteredEvent``) if an event does not encode; the
    ///   store's errors.
    @discardableResult
    public func when<A: Aggregate>(
        _ aggregate: A.Type,
        stream: StreamID,
        _ events: [A.Event],
        causedBy cause: EnvelopeMetadata? = nil,
        file: String = #fileID,
        line: Int = #line
    ) async throws -> [RecordedEvent] {
        let recorded = try await append(A.self, stream: stream, events, causedBy: cause, file: file, line: line)
        let end = try await store.headPosition()
        marks.withLock { $0.newEventsEnd = end }
        return recorded
    }

    /// Runs the process manager until it has settled and returns the commands it sent, in the order their events
    /// were recorded.
    ///
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unexpectedError``) if the process manager throws,
    ///   (``ScenarioFailure/Code/repeatedCommands``) if ``redelivers`` is set and a second delivery records events.
    public func sentCommands(file: String = #fileID, line: Int = #line) async throws -> [SentCommand] {
        let (historyEnd, newEventsEnd) = marks.withLock { ($0.historyEnd, max($0.historyEnd, $0.newEventsEnd)) }
        try await runUntilSettled(file: file, line: line)
        let head = try await store.headPosition()
        let recorded =
            head > newEventsEnd ? try await store.readAll(after: newEventsEnd, limit: Int(head - newEventsEnd)) : []
        if redelivers {
            if processManager.checkpointStorage == .projection {
                // Its own checkpoint is at the head, so a runner would deliver nothing again: the events after the
                // history go to it directly, as a runner delivers them once that checkpoint is lost.
                let events =
                    head > historyEnd ? try await store.readAll(after: historyEnd, limit: Int(head - historyEnd)) : []
                let applied = processManager.eventTypes.map { types in events.filter { types.contains($0.eventType) } }
                do {
                    try await processManager.apply(applied ?? events)
                } catch {
                    throw ScenarioFailure(
                        .unexpectedError, "'\(processManager.name)' threw \(error)", file: file, line: line)
                }
            } else {
                try await store.saveCheckpoint(historyEnd, for: processManager.name)
                try await runUntilSettled(file: file, line: line)
            }
            let headAfterRedelivery = try await store.headPosition()
            if headAfterRedelivery != head {
                let repeated = try await store.readAll(after: head, limit: Int(headAfterRedelivery - head))
                throw ScenarioFailure(
                    .repeatedCommands,
                    "delivered again, the events of the scenario made '\(processManager.name)' record more: "
                        + "\(SentCommand.commands(in: repeated))", file: file, line: line)
            }
        }
        return SentCommand.commands(in: recorded)
    }

    /// Runs the process manager until it has settled, then checks that it sent exactly the `expected` commands, in
    /// order.
    ///
    /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unexpectedCommands``) listing both when they differ,
    ///   and as ``sentCommands(file:line:)``.
    public func then(commands expected: [ExpectedCommand], file: String = #fileID, line: Int = #line) async throws {
        let sent = try await sentCommands(file: file, line: line)
        guard sent.count == expected.count, zip(expected, sent).allSatisfy({ $0.matches($1) }) else {
            throw ScenarioFailure(
                .unexpectedCommands,
                "expected '\(processManager.name)' to send \(expected.count) command(s):\n"
                    + expected.map { "  \($0)" }.joined(separator: "\n") + "\nit sent \(sent.count):\n"
                    + sent.map { "  \($0)" }.joined(separator: "\n"), file: file, line: line)
        }
    }

    private func append<A: Aggregate>(
        _ aggregate: A.Type,
        stream: StreamID,
        _ events: [A.Event],
        causedBy cause: EnvelopeMetadata?,
        file: String,
        line: Int
    ) async throws -> [RecordedEvent] {
        guard !events.isEmpty else { return [] }
        let metadata: Data
        do {
            metadata = try JSONPayloadCodec<EnvelopeMetadata>().encode(cause ?? EnvelopeMetadata(streamID: stream))
        } catch {
            throw ScenarioFailure(.unregisteredEvent, "the envelope does not encode: \(error)", file: file, line: line)
        }
        var data: [EventData] = []
        for event in events {
            do {
                data.append(try A.events.eventData(for: event, metadata: metadata))
            } catch {
                throw ScenarioFailure(
                    .unregisteredEvent, "the event \(event) cannot be encoded: \(error)", file: file, line: line)
            }
        }
        let result = try await store.append(data, to: stream, expectedVersion: .any)
        return try await store.readStream(
            stream, from: result.streamVersion - UInt64(events.count) + 1, direction: .forwards, limit: events.count)
    }

    /// Runs a runner of the process manager until it has caught up; the runner's own error if it stops first.
    private func runUntilSettled(file: String, line: Int) async throws {
        let runner = ProjectionRunner(projection: processManager, store: store)
        let first: RunnerFinish?
        do {
            first = try await withThrowingTaskGroup(of: RunnerFinish.self) { group in
                group.addTask {
                    try await runner.run()
                    return .runnerStopped
                }
                group.addTask {
                    try await runner.waitUntilCaughtUp()
                    return .settled
                }
                defer { group.cancelAll() }
                // The first to finish decides: a runner that stops (or throws) first ends the wait instead of
                // leaving it waiting for a run that will not come.
                do {
                    return try await group.next()
                } catch let stopped as ProjectionError where stopped.code == .stopped {
                    // The wait can learn of the stop before the runner's own error comes out: that error is the
                    // cause to report, when there is one.
                    while try await group.next() != nil {}
                    throw stopped
                }
            }
        } catch {
            throw ScenarioFailure(
                .unexpectedError, "'\(processManager.name)' threw \(error)", file: file, line: line)
        }
        guard first == .settled else {
            throw ScenarioFailure(
                .unexpectedError, "the runner of '\(processManager.name)' stopped before it settled", file: file,
                line: line)
        }
    }
}

/// Which of a scenario's two tasks finished first.
private enum RunnerFinish: Sendable {
    case settled
    case runnerStopped
}
