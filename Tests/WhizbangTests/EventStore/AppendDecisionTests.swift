import Foundation
import Testing
import Whizbang

/// The shared append rule on its own, against a lookup that records what it was asked.
@Suite struct AppendDecisionTests {
    /// A stream and the log's locations, as plain values.
    struct Lookup: AppendDecisionLookup {
        var located: [MessageID: StoredEventLocation] = [:]
        var stream: [StoredEventReference] = []
        var questions: [String] = []

        mutating func location(of eventID: MessageID) -> StoredEventLocation? {
            questions.append("location")
            return located[eventID]
        }

        mutating func storedEvents(from version: UInt64, limit: Int) -> [StoredEventReference] {
            questions.append("storedEvents(from: \(version), limit: \(limit))")
            return Array(stream.filter { $0.streamVersion >= version }.prefix(limit))
        }
    }

    let events = (1...3).map { _ in EventData(eventType: "Tested", data: Data()) }

    /// A stream holding `events` at versions 1–3 and positions 10–12.
    func storedStream() -> Lookup {
        var lookup = Lookup()
        for (offset, event) in events.enumerated() {
            let version = UInt64(offset + 1)
            lookup.stream.append(
                StoredEventReference(streamVersion: version, position: 9 + version, eventID: event.eventID))
            lookup.located[event.eventID] = StoredEventLocation(isInAppendedStream: true, streamVersion: version)
        }
        return lookup
    }

    @Test func anAppendAtTheExpectedVersionIsWrittenWithoutLookingAnythingUp() {
        var lookup = Lookup()
        let decision = AppendDecision.decide(
            events, to: "s", expectedVersion: .exact(4), currentVersion: 4, lookup: &lookup)
        #expect(decision == .write(firstVersion: 5))
        #expect(lookup.questions.isEmpty)
    }

    @Test func aNewFirstEventWithAnyIsWrittenAfterOneLookup() {
        var lookup = Lookup()
        let decision = AppendDecision.decide(events, to: "s", expectedVersion: .any, currentVersion: 7, lookup: &lookup)
        #expect(decision == .write(firstVersion: 8))
        #expect(lookup.questions == ["location"])
    }

    @Test func aNewStreamWithAnyLooksNothingUp() {
        var lookup = Lookup()
        let decision = AppendDecision.decide(events, to: "s", expectedVersion: .any, currentVersion: 0, lookup: &lookup)
        #expect(decision == .write(firstVersion: 1))
        #expect(lookup.questions.isEmpty)
    }

    @Test func aResendReturnsTheOriginalPositions() {
        var lookup = storedStream()
        let decision = AppendDecision.decide(
            Array(events[1...]), to: "s", expectedVersion: .exact(1), currentVersion: 3, lookup: &lookup)
        #expect(decision == .resend(AppendResult(streamID: "s", streamVersion: 3, positions: 11..<13)))
        #expect(lookup.questions == ["storedEvents(from: 2, limit: 2)"])
    }

    @Test func aResendWhoseEventsAreNotContiguousInTheLogIsAConflict() {
        var lookup = storedStream()
        lookup.stream[2].position = 20
        let decision = AppendDecision.decide(
            events, to: "s", expectedVersion: .noStream, currentVersion: 3, lookup: &lookup)
        guard case .fail(let error) = decision else {
            Issue.record("expected a failure, got \(decision)")
            return
        }
        #expect(error.code == .wrongExpectedVersion)
        #expect(error.actualVersion == 3)
    }

    @Test func aFirstEventStoredInAnotherStreamIsADuplicate() {
        var lookup = Lookup()
        lookup.located[events[0].eventID] = StoredEventLocation(isInAppendedStream: false, streamVersion: 1)
        let decision = AppendDecision.decide(events, to: "s", expectedVersion: .any, currentVersion: 2, lookup: &lookup)
        #expect(decision == .fail(AppendDecision.duplicateEventID(events[0].eventID, appendingTo: "s")))
    }

    @Test(arguments: [
        (ExpectedVersion.streamExists, UInt64(0)), (.noStream, 2), (.exact(1), 2), (.exact(3), 2),
    ])
    func emptyAppendsCheckTheExpectedVersion(expected: ExpectedVersion, current: UInt64) {
        var lookup = Lookup()
        let decision = AppendDecision.decide([], to: "s", expectedVersion: expected, currentVersion: current, lookup: &lookup)
        #expect(decision == .fail(.wrongExpectedVersion("s", expected: expected, actual: current)))
        #expect(lookup.questions.isEmpty)
    }

    @Test func validationUsesOneNameForThePayloadLimit() {
        var configuration = InMemoryEventStore.Configuration()
        configuration.maximumPayloadBytes = 4
        let big = EventData(eventType: "Tested", data: Data(count: 5))
        #expect(throws: EventStoreError.self) {
            try EventStoreValidation.validateAppend([big], to: "s", maximumPayloadBytes: configuration.maximumPayloadBytes)
        }
        #expect(throws: EventStoreError.self) {
            try EventStoreValidation.validateAppend(
                [EventData(eventType: "a\u{0}b", data: Data())], to: "s", maximumPayloadBytes: 4)
        }
    }
}
