public import Whizbang

extension AggregateScenario {
    /// What a command decided in a scenario: the events it recorded, or the error it threw.
    public struct Outcome: Sendable {
        /// The aggregate's state when the command was decided.
        public let stateBefore: A.State
        /// The events the command recorded, or its error.
        public let result: Result<[A.Event], any Error>

        /// Checks that the command recorded exactly `expected`, in order, and that each of them survives the
        /// aggregate's `EventRegistry` (it is registered and decodes equal to itself).
        ///
        /// - Returns: the state after the events, for further checks.
        /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/unexpectedEvents``, `unexpectedError` or
        ///   `unregisteredEvent`).
        @discardableResult
        public func then(
            _ expected: [A.Event],
            file: String = #fileID,
            line: Int = #line
        ) throws(ScenarioFailure) -> A.State where A.Event: Equatable {
            let events = try recordedEvents(file: file, line: line)
            guard events == expected else {
                throw ScenarioFailure(
                    .unexpectedEvents, "expected the events \(expected), got \(events)", file: file, line: line)
            }
            for event in events {
                try Self.checkRoundTrip(event, file: file, line: line)
            }
            return A.evolve(stateBefore, events)
        }

        /// Checks the recorded events with a predicate, for events that are not `Equatable` or carry values a test
        /// cannot predict.
        ///
        /// - Returns: the state after the events, for further checks.
        /// - Throws: ``ScenarioFailure`` if the command threw or `check` returns `false`.
        @discardableResult
        public func then(
            file: String = #fileID,
            line: Int = #line,
            _ check: ([A.Event]) -> Bool
        ) throws(ScenarioFailure) -> A.State {
            let events = try recordedEvents(file: file, line: line)
            guard check(events) else {
                throw ScenarioFailure(
                    .unexpectedEvents, "the events \(events) do not pass the check", file: file, line: line)
            }
            return A.evolve(stateBefore, events)
        }

        /// Checks that the command was rejected with an error equal to `expected`.
        ///
        /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/missingError`` or `unexpectedError`).
        public func thenThrows<Failure: Error & Equatable>(
            _ expected: Failure,
            file: String = #fileID,
            line: Int = #line
        ) throws(ScenarioFailure) {
            try thenThrows(file: file, line: line) { error in (error as? Failure) == expected }
        }

        /// Checks that the command was rejected with an error that `matches` accepts, for example
        /// `thenThrows { $0 is InsufficientFunds }`.
        ///
        /// - Throws: ``ScenarioFailure`` (``ScenarioFailure/Code/missingError`` or `unexpectedError`).
        public func thenThrows(
            file: String = #fileID,
            line: Int = #line,
            _ matches: (any Error) -> Bool
        ) throws(ScenarioFailure) {
            switch result {
            case .success(let events):
                throw ScenarioFailure(
                    .missingError, "expected an error, but the command recorded \(events)", file: file, line: line)
            case .failure(let error):
                guard matches(error) else {
                    throw ScenarioFailure(
                        .unexpectedError, "the command threw \(error), which is not the error expected",
                        file: file, line: line)
                }
            }
        }

        private func recordedEvents(file: String, line: Int) throws(ScenarioFailure) -> [A.Event] {
            switch result {
            case .success(let events): return events
            case .failure(let error):
                throw ScenarioFailure(
                    .unexpectedError, "expected events, but the command threw \(error)", file: file, line: line)
            }
        }

        private static func checkRoundTrip(_ event: A.Event, file: String, line: Int) throws(ScenarioFailure)
        where A.Event: Equatable {
            let decoded: A.Event
            do {
                let encoded = try A.events.eventData(for: event)
                decoded = try A.events.decode(
                    typeName: encoded.eventType, schemaVersion: encoded.schemaVersion, data: encoded.data)
            } catch {
                throw ScenarioFailure(
                    .unregisteredEvent, "the event \(event) does not go through the registry: \(error)",
                    file: file, line: line)
            }
            guard decoded == event else {
                throw ScenarioFailure(
                    .unregisteredEvent, "the event \(event) decodes as \(decoded) after encoding", file: file,
                    line: line)
            }
        }
    }
}
