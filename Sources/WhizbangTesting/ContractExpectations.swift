#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Whizbang

// The expectations the contract's checks are written with. Each throws a ContractViolation that points at its caller.

/// Fails unless `condition` holds.
func require(
    _ condition: Bool,
    _ message: @autoclosure () -> String,
    file: String = #fileID,
    line: Int = #line
) throws(ContractViolation) {
    guard condition else { throw ContractViolation(message(), file: file, line: line) }
}

/// Fails unless `actual == expected`; `what` names the value.
func requireEqual<Value: Equatable>(
    _ actual: Value,
    _ expected: Value,
    _ what: @autoclosure () -> String,
    file: String = #fileID,
    line: Int = #line
) throws(ContractViolation) {
    guard actual == expected else {
        throw ContractViolation("\(what()): expected \(expected), got \(actual)", file: file, line: line)
    }
}

/// An error with a comparable code, as every public error of the framework has.
protocol CodedError: Error {
    associatedtype Code: Equatable
    var code: Code { get }
}

extension EventStoreError: CodedError {}
extension ReadModelError: CodedError {}

/// Runs `body`, failing unless it throws an `EventStoreError` with `code`; returns the error.
@discardableResult
func requireError<Value>(
    _ code: EventStoreError.Code,
    _ what: @autoclosure () -> String,
    file: String = #fileID,
    line: Int = #line,
    _ body: () async throws -> Value
) async throws(ContractViolation) -> EventStoreError {
    try await requireCodedError(code, what(), file: file, line: line, body)
}

/// Runs `body`, failing unless it throws a `Failure` with `code`; returns the error.
func requireCodedError<Failure: CodedError, Value>(
    _ code: Failure.Code,
    _ what: @autoclosure () -> String,
    file: String,
    line: Int,
    _ body: () async throws -> Value
) async throws(ContractViolation) -> Failure {
    let value: Value
    do {
        value = try await body()
    } catch let error as Failure {
        guard error.code == code else {
            throw ContractViolation("\(what()): expected error \(code), got \(error)", file: file, line: line)
        }
        return error
    } catch {
        throw ContractViolation("\(what()): expected error \(code), got \(error)", file: file, line: line)
    }
    throw ContractViolation("\(what()): expected error \(code), but it succeeded with \(value)", file: file, line: line)
}

/// Runs `body`, turning any error into a violation that says the rule expected success.
func requireSuccess<Value>(
    _ what: @autoclosure () -> String,
    file: String = #fileID,
    line: Int = #line,
    _ body: () async throws -> Value
) async throws(ContractViolation) -> Value {
    do {
        return try await body()
    } catch let violation as ContractViolation {
        throw violation
    } catch {
        throw ContractViolation("\(what()): expected success, got \(error)", file: file, line: line)
    }
}

/// Appends, expecting success with `version` as the new stream version; checks the result against what is read back
/// and that positions follow the head the store had before. Use where nothing else appends at the same time.
@discardableResult
func requireAppend(
    _ store: any EventStore,
    _ events: [EventData],
    to streamID: StreamID,
    expecting expectedVersion: ExpectedVersion,
    newVersion: UInt64,
    file: String = #fileID,
    line: Int = #line
) async throws -> AppendResult {
    let what = "append of \(events.count) events to '\(streamID)' with \(expectedVersion)"
    let head = try await store.headPosition()
    let result = try await requireSuccess(what, file: file, line: line) {
        try await store.append(events, to: streamID, expectedVersion: expectedVersion)
    }
    try requireEqual(result.streamID, streamID, "\(what): the result's stream", file: file, line: line)
    try requireEqual(result.streamVersion, newVersion, "\(what): the new stream version", file: file, line: line)
    let count = UInt64(events.count)
    if events.isEmpty {
        try require(result.positions.isEmpty, "\(what): positions must be empty", file: file, line: line)
    } else {
        try requireEqual(result.positions, head + 1..<head + 1 + count, "\(what): positions", file: file, line: line)
    }
    try requireEqual(try await store.headPosition(), head + count, "\(what): the head position", file: file, line: line)
    try requireEqual(
        try await store.streamVersion(of: streamID), newVersion, "\(what): the stream version", file: file, line: line)
    if !events.isEmpty {
        let stored = try await store.readStream(
            streamID, from: newVersion - count + 1, direction: .forwards, limit: events.count)
        try requireStored(
            stored, match: events, in: streamID, fromVersion: newVersion - count + 1, file: file, line: line)
        try requireEqual(
            stored.map(\.position), Array(result.positions), "\(what): positions read back", file: file, line: line)
    }
    return result
}

/// Checks that `stored` holds `events`, in order, at consecutive versions from `fromVersion`.
func requireStored(
    _ stored: [RecordedEvent],
    match events: [EventData],
    in streamID: StreamID,
    fromVersion: UInt64,
    file: String = #fileID,
    line: Int = #line
) throws(ContractViolation) {
    try requireEqual(stored.count, events.count, "events read from '\(streamID)'", file: file, line: line)
    for (offset, (recorded, event)) in zip(stored, events).enumerated() {
        let what = "event at version \(fromVersion + UInt64(offset)) of '\(streamID)'"
        try requireEqual(recorded.streamID, streamID, "\(what): stream", file: file, line: line)
        try requireEqual(
            recorded.streamVersion, fromVersion + UInt64(offset), "\(what): version", file: file, line: line)
        try requireEqual(recorded.eventID, event.eventID, "\(what): event id", file: file, line: line)
        try requireEqual(recorded.eventType, event.eventType, "\(what): event type", file: file, line: line)
        try requireEqual(
            recorded.schemaVersion, event.schemaVersion, "\(what): schema version", file: file, line: line)
        try requireEqual(recorded.data, event.data, "\(what): data", file: file, line: line)
        try requireEqual(recorded.metadata, event.metadata, "\(what): metadata", file: file, line: line)
    }
}

/// Appends, expecting `EventStoreError/Code/wrongExpectedVersion` carrying the stream, `expectedVersion` and
/// `actual`, and that nothing was written.
func requireWrongExpectedVersion(
    _ store: any EventStore,
    _ events: [EventData],
    to streamID: StreamID,
    expecting expectedVersion: ExpectedVersion,
    actual: UInt64,
    file: String = #fileID,
    line: Int = #line
) async throws {
    let what = "append of \(events.count) events to '\(streamID)' with \(expectedVersion)"
    let head = try await store.headPosition()
    let error = try await requireError(.wrongExpectedVersion, what, file: file, line: line) {
        try await store.append(events, to: streamID, expectedVersion: expectedVersion)
    }
    try requireErrorContext(
        error, streamID: streamID, expected: expectedVersion, actual: actual, file: file, line: line)
    try await requireNothingWritten(store, head: head, streamID: streamID, version: actual, file: file, line: line)
}

/// Checks the context a wrong-expected-version error carries.
func requireErrorContext(
    _ error: EventStoreError,
    streamID: StreamID,
    expected: ExpectedVersion,
    actual: UInt64,
    file: String = #fileID,
    line: Int = #line
) throws(ContractViolation) {
    try requireEqual(error.streamID, streamID, "the error's streamID", file: file, line: line)
    try requireEqual(error.expectedVersion, expected, "the error's expectedVersion", file: file, line: line)
    try requireEqual(error.actualVersion, actual, "the error's actualVersion", file: file, line: line)
}

/// Checks that the head is still `head` and the stream still at `version`.
func requireNothingWritten(
    _ store: any EventStore,
    head: UInt64,
    streamID: StreamID,
    version: UInt64,
    file: String = #fileID,
    line: Int = #line
) async throws {
    try requireEqual(try await store.headPosition(), head, "the head after a failed append", file: file, line: line)
    try requireEqual(
        try await store.streamVersion(of: streamID), version, "the version of '\(streamID)' after a failed append",
        file: file, line: line)
}

/// Fresh events with distinct ids, a type name and small JSON data and metadata that say which one they are.
func makeEvents(_ count: Int, label: String = "event") -> [EventData] {
    (0..<count).map { index in
        EventData(
            eventType: "ContractTested",
            data: Data(#"{"label":"\#(label)","index":\#(index)}"#.utf8),
            metadata: Data(#"{"correlation":"\#(label)"}"#.utf8)
        )
    }
}

/// Every event of the global log, read in pages.
func readWholeLog(_ store: any EventStore, pageSize: Int = 1_000) async throws -> [RecordedEvent] {
    var events: [RecordedEvent] = []
    while true {
        let page = try await store.readAll(after: events.last?.position ?? 0, limit: pageSize)
        if page.isEmpty { return events }
        events += page
    }
}
