#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Whizbang

extension EventStoreContract {
    /// Bad input: a typed error before anything is written.
    static let validationChecks: [EventStoreContractCheck] = [
        EventStoreContractCheck(name: "validation.emptyStreamID") { store in
            let error = try await requireError(.invalidStreamID, "append to an empty stream id") {
                try await store.append(makeEvents(1), to: "", expectedVersion: .any)
            }
            try requireEqual(error.streamID, "", "the error's streamID")
            try requireEqual(try await store.headPosition(), 0, "the head after a rejected append")
        },
        EventStoreContractCheck(name: "validation.streamIDLength") { store in
            let longest = StreamID(String(repeating: "é", count: StreamID.maximumLength / 2))
            try await requireAppend(store, makeEvents(1), to: longest, expecting: .noStream, newVersion: 1)
            let tooLong = StreamID(longest.rawValue + "x")
            let error = try await requireError(.invalidStreamID, "append to a stream id one byte too long") {
                try await store.append(makeEvents(1), to: tooLong, expectedVersion: .any)
            }
            try requireEqual(error.streamID, tooLong, "the error's streamID")
            try requireEqual(try await store.headPosition(), 1, "the head after a rejected append")
        },
        EventStoreContractCheck(name: "validation.invalidStreamIDElsewhere") { store in
            let tooLong = StreamID(String(repeating: "x", count: StreamID.maximumLength + 1))
            for streamID in [StreamID(""), tooLong] {
                try await requireError(.invalidStreamID, "readStream of '\(streamID)'") {
                    try await store.readStream(streamID, from: 1, direction: .forwards, limit: 1)
                }
                try await requireError(.invalidStreamID, "streamVersion of '\(streamID)'") {
                    try await store.streamVersion(of: streamID)
                }
                try await requireError(.invalidStreamID, "saveSnapshot for '\(streamID)'") {
                    try await store.saveSnapshot(
                        Snapshot(streamID: streamID, streamVersion: 1, stateType: "State", data: Data("{}".utf8)))
                }
                try await requireError(.invalidStreamID, "latestSnapshot for '\(streamID)'") {
                    try await store.latestSnapshot(for: streamID)
                }
            }
        },
        EventStoreContractCheck(name: "validation.invalidConsumerName") { store in
            for consumer in ["", "a\u{0}b"] {
                try await requireError(.invalidArgument, "checkpoint for \(consumer.debugDescription)") {
                    try await store.checkpoint(for: consumer)
                }
                try await requireError(.invalidArgument, "saveCheckpoint for \(consumer.debugDescription)") {
                    try await store.saveCheckpoint(1, for: consumer)
                }
            }
        },
        EventStoreContractCheck(name: "validation.emptyEventType") { store in
            var events = makeEvents(3)
            events[1].eventType = ""
            try await requireError(.invalidArgument, "append of an event with an empty type") {
                try await store.append(events, to: "s", expectedVersion: .any)
            }
            try await requireNothingWritten(store, head: 0, streamID: "s", version: 0)
        },
        EventStoreContractCheck(name: "validation.schemaVersionOutOfRange") { store in
            for version in [0, -1, Int(Int32.max) + 1] {
                var events = makeEvents(3)
                events[2].schemaVersion = version
                try await requireError(.invalidArgument, "append of an event at schema version \(version)") {
                    try await store.append(events, to: "s", expectedVersion: .any)
                }
            }
            try await requireNothingWritten(store, head: 0, streamID: "s", version: 0)
        },
        EventStoreContractCheck(name: "validation.duplicateIDsInOneAppend") { store in
            let events = makeEvents(2)
            try await requireError(.invalidArgument, "append of one event id twice") {
                try await store.append(events + [events[0]], to: "s", expectedVersion: .noStream)
            }
            try await requireNothingWritten(store, head: 0, streamID: "s", version: 0)
            // Nothing of the rejected append was stored, so its events can be appended once.
            try await requireAppend(store, events, to: "s", expecting: .noStream, newVersion: 2)
        },
        EventStoreContractCheck(name: "validation.negativeLimit") { store in
            try await requireAppend(store, makeEvents(2), to: "s", expecting: .noStream, newVersion: 2)
            for direction in [ReadDirection.forwards, .backwards] {
                try await requireError(.invalidArgument, "readStream \(direction) with limit -1") {
                    try await store.readStream("s", from: 1, direction: direction, limit: -1)
                }
            }
            try await requireError(.invalidArgument, "readAll with limit -1") {
                try await store.readAll(after: 0, limit: -1)
            }
        },
    ]
}
