import Whizbang

extension EventStoreContract {
    /// Every branch of `AppendDecision`, one check each, against one history, so that a store that decides any
    /// append differently from the shared rule fails by name.
    ///
    /// The history: stream `s` gets events `s1`–`s3` (positions 1–3), stream `o` gets `o1`–`o2` (4–5), then `s` gets
    /// `s4`–`s5` (6–7). So `s` is at version 5, and `s3`, `s4` are neighbours in the stream but not in the log.
    static let appendDecisionChecks: [EventStoreContractCheck] = decisionCases.map { decisionCase in
        EventStoreContractCheck(name: "appendDecision.\(decisionCase.name)") { store in
            let history = try await DecisionHistory(store)
            try await decisionCase.run(store, history)
        }
    }

    private static let decisionCases: [DecisionCase] = [
        // Expected version any.
        DecisionCase("any.resendFirst", .any, "s", ["s1"], .resent(version: 1, positions: 1..<2)),
        DecisionCase("any.resendRun", .any, "s", ["s2", "s3"], .resent(version: 3, positions: 2..<4)),
        DecisionCase("any.resendTail", .any, "s", ["s4", "s5"], .resent(version: 5, positions: 6..<8)),
        DecisionCase("any.resendAcrossLogGap", .any, "s", ["s3", "s4"], .failed(.wrongExpectedVersion, actual: 5)),
        DecisionCase("any.resendWithGap", .any, "s", ["s1", "s3"], .failed(.wrongExpectedVersion, actual: 5)),
        DecisionCase("any.resendPastEnd", .any, "s", ["s5", "new"], .failed(.wrongExpectedVersion, actual: 5)),
        DecisionCase("any.firstIDInOtherStream", .any, "s", ["o1"], .failed(.duplicateEventID, actual: 5)),
        DecisionCase("any.laterIDStored", .any, "s", ["new", "s1"], .failed(.duplicateEventID, actual: 5)),
        DecisionCase("any.new", .any, "s", ["new"], .written(version: 6)),
        DecisionCase("any.empty", .any, "s", [], .empty(version: 5)),
        DecisionCase("any.emptyOnNewStream", .any, "n", [], .empty(version: 0)),
        DecisionCase("any.storedIDOnNewStream", .any, "n", ["s1"], .failed(.duplicateEventID, actual: 0)),
        // Expected version streamExists.
        DecisionCase("streamExists.newStream", .streamExists, "n", ["new"], .failed(.wrongExpectedVersion, actual: 0)),
        DecisionCase("streamExists.emptyOnNewStream", .streamExists, "n", [], .failed(.wrongExpectedVersion, actual: 0)),
        DecisionCase("streamExists.empty", .streamExists, "s", [], .empty(version: 5)),
        DecisionCase("streamExists.resend", .streamExists, "s", ["s4", "s5"], .resent(version: 5, positions: 6..<8)),
        DecisionCase("streamExists.new", .streamExists, "s", ["new"], .written(version: 6)),
        DecisionCase("streamExists.otherStream", .streamExists, "s", ["o2"], .failed(.duplicateEventID, actual: 5)),
        // Expected version noStream.
        DecisionCase("noStream.new", .noStream, "n", ["new"], .written(version: 1)),
        DecisionCase("noStream.empty", .noStream, "n", [], .empty(version: 0)),
        DecisionCase("noStream.emptyOnStream", .noStream, "s", [], .failed(.wrongExpectedVersion, actual: 5)),
        DecisionCase("noStream.resend", .noStream, "s", ["s1", "s2", "s3"], .resent(version: 3, positions: 1..<4)),
        DecisionCase("noStream.resendPrefix", .noStream, "s", ["s1"], .resent(version: 1, positions: 1..<2)),
        DecisionCase(
            "noStream.resendAcrossLogGap", .noStream, "s", ["s1", "s2", "s3", "s4"],
            .failed(.wrongExpectedVersion, actual: 5)),
        DecisionCase("noStream.notFromStart", .noStream, "s", ["s2"], .failed(.wrongExpectedVersion, actual: 5)),
        DecisionCase("noStream.storedIDOnNewStream", .noStream, "n", ["o1"], .failed(.duplicateEventID, actual: 0)),
        // Expected version exact.
        DecisionCase("exact.current", .exact(5), "s", ["new"], .written(version: 6)),
        DecisionCase("exact.currentEmpty", .exact(5), "s", [], .empty(version: 5)),
        DecisionCase("exact.currentStoredID", .exact(5), "s", ["s5"], .failed(.duplicateEventID, actual: 5)),
        DecisionCase("exact.ahead", .exact(6), "s", ["new"], .failed(.wrongExpectedVersion, actual: 5)),
        DecisionCase("exact.aheadEmpty", .exact(6), "s", [], .failed(.wrongExpectedVersion, actual: 5)),
        DecisionCase("exact.behindEmpty", .exact(3), "s", [], .failed(.wrongExpectedVersion, actual: 5)),
        DecisionCase("exact.resend", .exact(3), "s", ["s4", "s5"], .resent(version: 5, positions: 6..<8)),
        DecisionCase("exact.resendPrefix", .exact(3), "s", ["s4"], .resent(version: 4, positions: 6..<7)),
        DecisionCase("exact.resendAcrossLogGap", .exact(2), "s", ["s3", "s4"], .failed(.wrongExpectedVersion, actual: 5)),
        DecisionCase("exact.resendWrongPlace", .exact(1), "s", ["s3"], .failed(.wrongExpectedVersion, actual: 5)),
        DecisionCase("exact.zeroOnNewStream", .exact(0), "n", ["new"], .written(version: 1)),
        DecisionCase("exact.newStream", .exact(1), "n", ["new"], .failed(.wrongExpectedVersion, actual: 0)),
    ]
}

/// The history every ``EventStoreContract/appendDecisionChecks`` case starts from, with its events by name.
private struct DecisionHistory {
    let events: [String: EventData]

    init(_ store: any EventStore) async throws {
        let s = makeEvents(5, label: "s")
        let o = makeEvents(2, label: "o")
        try await requireAppend(store, Array(s[0..<3]), to: "s", expecting: .noStream, newVersion: 3)
        try await requireAppend(store, o, to: "o", expecting: .noStream, newVersion: 2)
        try await requireAppend(store, Array(s[3..<5]), to: "s", expecting: .exact(3), newVersion: 5)
        var events: [String: EventData] = [:]
        for (index, event) in s.enumerated() { events["s\(index + 1)"] = event }
        for (index, event) in o.enumerated() { events["o\(index + 1)"] = event }
        events["new"] = makeEvents(1, label: "new")[0]
        self.events = events
    }
}

/// One append against the history and what the shared rule says it comes to.
private struct DecisionCase: Sendable {
    enum Outcome: Sendable {
        case written(version: UInt64)
        case empty(version: UInt64)
        case resent(version: UInt64, positions: Range<UInt64>)
        case failed(EventStoreError.Code, actual: UInt64)
    }

    let name: String
    let expectedVersion: ExpectedVersion
    let streamID: StreamID
    let eventNames: [String]
    let outcome: Outcome

    init(
        _ name: String, _ expectedVersion: ExpectedVersion, _ streamID: StreamID, _ eventNames: [String],
        _ outcome: Outcome
    ) {
        self.name = name
        self.expectedVersion = expectedVersion
        self.streamID = streamID
        self.eventNames = eventNames
        self.outcome = outcome
    }

    func run(_ store: any EventStore, _ history: DecisionHistory) async throws {
        let events = eventNames.map { history.events[$0]! }
        let what = "append of \(eventNames) to '\(streamID)' with \(expectedVersion)"
        switch outcome {
        case .written(let version):
            try await requireAppend(store, events, to: streamID, expecting: expectedVersion, newVersion: version)
        case .empty(let version):
            try await requireAppend(store, events, to: streamID, expecting: expectedVersion, newVersion: version)
        case .resent(let version, let positions):
            try await requireRetry(
                store, events, to: streamID, expecting: expectedVersion,
                returns: AppendResult(streamID: streamID, streamVersion: version, positions: positions))
        case .failed(let code, let actual):
            let head = try await store.headPosition()
            let error = try await requireError(code, what) {
                try await store.append(events, to: streamID, expectedVersion: expectedVersion)
            }
            if code == .wrongExpectedVersion {
                try requireErrorContext(error, streamID: streamID, expected: expectedVersion, actual: actual)
            }
            try await requireNothingWritten(store, head: head, streamID: streamID, version: actual)
        }
    }
}
