import Foundation
import Testing
import Whizbang

/// Records the cause it is handed for each event.
struct CauseRecordingProcess: ProcessManager {
    let name = "cause-recorder"
    let causes = Recorder<EnvelopeMetadata>()

    func handle(_ event: RecordedEvent, cause: EnvelopeMetadata) async throws {
        causes.append(cause)
    }
}

@Suite(.timeLimit(.minutes(5)))
struct ProcessManagerTests {
    @Test func eachEventIsHandedItsOwnEnvelopeAsTheCause() async throws {
        let store = InMemoryEventStore()
        let command = EnvelopeMetadata(
            correlationID: MessageID(), causationID: MessageID(), streamID: "a", metadata: ["tenant": "acme"])
        _ = try await store.append(
            [
                EventData(eventType: "Stored", data: Data("{}".utf8), metadata: try JSONEncoder().encode(command)),
                EventData(eventType: "Bare", data: Data("{}".utf8)),
                EventData(eventType: "Foreign", data: Data("{}".utf8), metadata: Data("not json".utf8)),
            ], to: "a", expectedVersion: .noStream)
        let events = try await store.readAll(after: 0, limit: 10)
        let process = CauseRecordingProcess()

        try await process.apply(events)

        let causes = process.causes.elements
        #expect(causes.map(\.messageID) == events.map(\.eventID))
        #expect(causes.map(\.streamID) == ["a", "a", "a"])
        #expect(causes[0].correlationID == command.correlationID)
        #expect(causes[0].causationID == command.messageID)
        #expect(causes[0].metadata == ["tenant": "acme"])
        // Without readable metadata, an event starts its own conversation.
        for index in 1...2 {
            #expect(causes[index].correlationID == events[index].eventID)
            #expect(causes[index].causationID == nil)
        }
        #expect(throws: DecodingError.self) { try events[2].eventEnvelope() }
        #expect(try events[1].commandEnvelope() == nil)
    }

    @Test func aProcessManagerRunsUnderAProjectionRunnerWithItsOwnCheckpoint() async throws {
        let store = InMemoryEventStore()
        try await appendValues(1...3, to: "a", in: store)
        let process = CauseRecordingProcess()
        let runner = ProjectionRunner(projection: process, store: store)
        try await whileRunning(runner) { try await runner.waitUntilApplied(through: 3) }
        #expect(process.causes.elements.count == 3)
        #expect(try await store.checkpoint(for: "cause-recorder") == 3)
        try await process.reset()
    }
}
