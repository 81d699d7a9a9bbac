import Foundation
import Testing
import Whizbang

@testable import WhizbangPostgres

/// The append function's set-based path decides and writes exactly as the one-append-at-a-time loop of schema
/// version 3 does: the same batches through both, compared result by result and event by event.
@Suite(
    "PostgresEventStore set-based append",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresSetBasedAppendTests {
    /// What an append's result says, comparable across stores.
    private static func summary(_ result: Result<AppendResult, EventStoreError>) -> String {
        switch result {
        case .success(let appended): "ok \(appended.streamVersion) \(appended.positions)"
        case .failure(let error): "\(error.code)"
        }
    }

    @Test("random batches give the same results and the same log through the set-based path and the loop")
    func theSetBasedPathDecidesAsTheLoop() async throws {
        let loopConfiguration = try PostgresTestServer.configuration()
        try await PostgresTestServer.withStore { setBased in
            try await PostgresTestServer.withStore(configuration: loopConfiguration) { loop in
                // The loop store gets schema version 3's function back.
                _ = try await loop.headPosition()
                let quoted = "\"\(loopConfiguration.schema)\""
                let function = PostgresSchema.appendFunction(schemaVersions: true, reportsInserted: true)
                    .replacingOccurrences(of: "CREATE FUNCTION", with: "CREATE OR REPLACE FUNCTION")
                    .replacingOccurrences(of: "{schema}", with: quoted)
                    .replacingOccurrences(of: "{channel}", with: "whizbang_\(loopConfiguration.schema)")
                    .replacingOccurrences(of: "{name}", with: loopConfiguration.schema)
                try await PostgresTestServer.execute(function, configuration: loopConfiguration)

                var generator = SystemRandomNumberGenerator()
                var sent: [PostgresStoreAppend] = []
                var loopFound = false
                var setFound = false
                for round in 0..<200 {
                    var appends: [PostgresStoreAppend] = []
                    for _ in 0..<Int.random(in: 1...5, using: &generator) {
                        // Sometimes an append sent before, again (a retry, which the loop matches); sometimes
                        // events sent before with another condition (matched or refused as duplicates).
                        if round > 0, Int.random(in: 0..<8, using: &generator) == 0 {
                            appends.append(sent.randomElement(using: &generator)!)
                            continue
                        }
                        let stream = StreamID("s-\(Int.random(in: 0..<6, using: &generator))")
                        let expected: ExpectedVersion =
                            switch Int.random(in: 0..<6, using: &generator) {
                            case 0: .any
                            case 1: .noStream
                            case 2: .streamExists
                            default: .exact(UInt64.random(in: 0...4, using: &generator))
                            }
                        let events: [EventData] =
                            if round > 0, Int.random(in: 0..<10, using: &generator) == 0 {
                                sent.randomElement(using: &generator)!.events
                            } else {
                                (0..<Int.random(in: 0...3, using: &generator)).map { index in
                                    EventData(eventType: "E\(index)", data: Data("\(round)".utf8))
                                }
                            }
                        appends.append(PostgresStoreAppend(events, to: stream, expectedVersion: expected))
                    }
                    sent += appends
                    let appendsOfRound = appends
                    let viaSetBased = try await setBased.withTransaction { try await $0.append(appendsOfRound) }
                    let viaLoop = try await loop.withTransaction { try await $0.append(appendsOfRound) }
                    #expect(viaSetBased.map(Self.summary) == viaLoop.map(Self.summary), "round \(round)")
                    setFound = setFound || viaSetBased.contains { (try? $0.get()) != nil }
                    loopFound = loopFound || viaLoop.contains { (try? $0.get()) == nil }
                }
                #expect(setFound && loopFound)
                let setLog = try await setBased.readAll(after: 0, limit: 10_000)
                let loopLog = try await loop.readAll(after: 0, limit: 10_000)
                #expect(setLog.count > 100)
                #expect(
                    setLog.map { "\($0.position) \($0.streamID) \($0.streamVersion) \($0.eventID) \($0.eventType)" }
                        == loopLog.map { "\($0.position) \($0.streamID) \($0.streamVersion) \($0.eventID) \($0.eventType)" })
                for index in 0..<6 {
                    let stream = StreamID("s-\(index)")
                    #expect(try await setBased.streamVersion(of: stream) == loop.streamVersion(of: stream))
                }
            }
        }
    }
}
