import CWhizbangSQLite
import Foundation
import Whizbang

extension SQLiteWriter {
    /// Decides one append with ``AppendDecision`` and writes it, inside the writer's transaction.
    ///
    /// Conflicts come back as a `.failed` outcome (the caller rolls back the savepoint); a thrown error is a storage
    /// failure that fails the whole transaction. Idempotency is decided from the stored events, never from a cache.
    func performAppend(_ append: SQLiteWriteRequest.Append, now: Int64) throws(SQLiteError)
        -> SQLiteWriteRequest.Outcome
    {
        let streamID = append.streamID
        let (key, current) = try lookUpStream(streamID)
        var lookup = StoredEventsLookup(
            selectEventByID: statements.selectEventByID, selectStreamEvents: statements.selectStreamEvents, key: key)
        let decision = try AppendDecision.decide(
            append.events, to: streamID, expectedVersion: append.expectedVersion, currentVersion: current,
            lookup: &lookup)
        switch decision {
        case .write(let firstVersion):
            return try insert(append, key: key, current: firstVersion - 1, now: now)
        case .empty(let version):
            return .appended(try emptyResult(streamID, version: version))
        case .resend(let result):
            return .appended(result)
        case .fail(let error):
            return .failed(error)
        }
    }

    /// The result of an empty append: no positions, placed where the next event would go.
    private func emptyResult(_ streamID: StreamID, version: UInt64) throws(SQLiteError) -> AppendResult {
        let statement = statements.selectHead
        defer { statement.reset() }
        let head = try statement.step() ? statement.uint64(at: 0) : 0
        return AppendResult(streamID: streamID, streamVersion: version, positions: (head + 1)..<(head + 1))
    }

    /// The stream's key and version, or `nil` and 0 for a stream that has never had events; from the stream cache
    /// when it holds the stream.
    private func lookUpStream(_ streamID: StreamID) throws(SQLiteError) -> (Int64?, UInt64) {
        if let cached = streamCache[streamID] { return (cached.key, cached.version) }
        let statement = statements.selectStream
        defer { statement.reset() }
        statement.bind(streamID.rawValue, at: 1)
        guard try statement.step() else { return (nil, 0) }
        let key = statement.int64(at: 0)
        let version = statement.uint64(at: 1)
        remember(streamID, key: key, version: version)
        return (key, version)
    }

    /// Records a stream's key and version in the stream cache, emptying it first when it is full.
    private func remember(_ streamID: StreamID, key: Int64, version: UInt64) {
        if streamCache.count >= streamCacheLimit, streamCache[streamID] == nil {
            streamCache.removeAll(keepingCapacity: true)
        }
        streamCache[streamID] = CachedStream(key: key, version: version)
    }

    /// Writes the events after version `current`, creating the stream row if needed.
    ///
    /// One event for a known stream is one `INSERT` (undone by SQLite's statement rollback if it fails); anything more
    /// takes a savepoint, so that a failure undoes all of it. The stream's row is written only when the stream is
    /// created: its version is that of its last event (see `SQLiteSchema`).
    private func insert(_ append: SQLiteWriteRequest.Append, key: Int64?, current: UInt64, now: Int64)
        throws(SQLiteError) -> SQLiteWriteRequest.Outcome
    {
        let foldsReadModels = readModels?.hasFollowingInlineModels ?? false
        guard let key, append.events.count == 1, inlineProjections.isEmpty, !foldsReadModels else {
            try statements.savepoint.execute()
            var outcome: SQLiteWriteRequest.Outcome
            do {
                outcome = try insertEvents(append, key: key, current: current, now: now)
                if case .appended(let result) = outcome, !inlineProjections.isEmpty {
                    outcome = applyInlineProjections(append, result: result, now: now)
                }
                if case .appended(let result) = outcome, let readModels {
                    if foldsReadModels {
                        let events = recordedEvents(append, result: result, now: now)
                        if let error = try readModels.applyInline(events, streamID: append.streamID) {
                            streamCache[append.streamID] = nil
                            outcome = .failed(error)
                        }
                    } else {
                        readModels.noteAppended(upTo: result.positions.upperBound &- 1)
                    }
                }
            } catch {
                try? statements.rollbackToSavepoint.execute()
                try? statements.releaseSavepoint.execute()
                throw error
            }
            if case .failed = outcome { try statements.rollbackToSavepoint.execute() }
            try statements.releaseSavepoint.execute()
            return outcome
        }
        let outcome = try insertEvents(append, key: key, current: current, now: now)
        if case .appended(let result) = outcome { readModels?.noteAppended(upTo: result.positions.upperBound &- 1) }
        return outcome
    }

    /// The events of an append just inserted, as they are recorded.
    private func recordedEvents(_ append: SQLiteWriteRequest.Append, result: AppendResult, now: Int64)
        -> [RecordedEvent]
    {
        let recordedAt = Date(timeIntervalSince1970: Double(now) / 1_000_000)
        let firstVersion = result.streamVersion - UInt64(append.events.count) + 1
        return append.events.enumerated().map { offset, event in
            RecordedEvent(
                streamID: append.streamID, streamVersion: firstVersion + UInt64(offset),
                position: result.positions.lowerBound + UInt64(offset), eventID: event.eventID,
                eventType: event.eventType, schemaVersion: event.schemaVersion, data: event.data,
                metadata: event.metadata, recordedAt: recordedAt)
        }
    }

    /// Applies the inline projections to an append just inserted; a projection's error fails the append, whose
    /// savepoint the caller then rolls back, so the stream cache forgets the version it was given.
    private func applyInlineProjections(_ append: SQLiteWriteRequest.Append, result: AppendResult, now: Int64)
        -> SQLiteWriteRequest.Outcome
    {
        let recorded = recordedEvents(append, result: result, now: now)
        let database = SQLiteInlineDatabase(writer: self)
        for projection in inlineProjections {
            do {
                try projection.apply(recorded, in: database)
            } catch {
                streamCache[append.streamID] = nil
                return .failed(
                    EventStoreError(
                        .inlineProjectionFailed, streamID: append.streamID,
                        message: "inline projection '\(projection.name)' failed: \(error)"))
            }
        }
        return .appended(result)
    }

    /// Inserts the events, creates the stream row if needed, and records the stream's key and version in the stream
    /// cache.
    private func insertEvents(_ append: SQLiteWriteRequest.Append, key: Int64?, current: UInt64, now: Int64)
        throws(SQLiteError) -> SQLiteWriteRequest.Outcome
    {
        let events = append.events
        let newVersion = current + UInt64(events.count)
        let streamKey: Int64
        if let key {
            streamKey = key
        } else {
            let statement = statements.insertStream
            statement.bind(append.streamID.rawValue, at: 1)
            statement.bind(newVersion, at: 2)
            try statement.execute()
            streamKey = connection.lastInsertRowID
        }
        let statement = statements.insertEvent
        var firstPosition: Int64 = 0
        for (index, event) in events.enumerated() {
            var eventType = event.eventType
            let error: SQLiteError? = event.data.withUnsafeBytes { data in
                event.metadata.withUnsafeBytes { metadata in
                    eventType.withUTF8 { type in
                        statement.bind(streamKey, at: 1)
                        statement.bind(current + UInt64(index) + 1, at: 2)
                        statement.bind(event.eventID, at: 3)
                        statement.bindBorrowedText(type, at: 4)
                        statement.bindBorrowedPayload(data, at: 5)
                        statement.bindBorrowedPayload(metadata, at: 6, nullIfEmpty: true)
                        statement.bind(now, at: 7)
                        statement.bind(Int64(event.schemaVersion), at: 8)
                        return statement.executeReturningError()
                    }
                }
            }
            if let error {
                if error.isUniqueViolation { return .failed(AppendDecision.duplicateEventID(event.eventID, appendingTo: append.streamID)) }
                throw error
            }
            // SQLite gives the next rowid unless the largest is taken, then a random one: positions must follow
            // the head, one after another.
            let position = connection.lastInsertRowID
            if index == 0 {
                firstPosition = position
            } else if position != firstPosition &+ Int64(index) {
                firstPosition = 0
            }
        }
        guard firstPosition >= 1 else {
            throw SQLiteError(
                code: SQLITE_CORRUPT, systemErrno: 0,
                message: "the events table has no room for positions after its last", sql: nil)
        }
        remember(append.streamID, key: streamKey, version: newVersion)
        let first = UInt64(firstPosition)
        return .appended(
            AppendResult(
                streamID: append.streamID,
                streamVersion: newVersion,
                positions: first..<(first + UInt64(events.count))
            )
        )
    }
}

extension SQLiteWriter {
    /// Answers the append rule's questions with the writer's prepared statements, inside its transaction.
    struct StoredEventsLookup: AppendDecisionLookup {
        let selectEventByID: SQLiteStatement
        let selectStreamEvents: SQLiteStatement
        /// The appended stream's key; `nil` for a stream that has never had events.
        let key: Int64?

        func location(of eventID: MessageID) throws(SQLiteError) -> StoredEventLocation? {
            let statement = selectEventByID
            defer { statement.reset() }
            statement.bind(eventID, at: 1)
            guard try statement.step() else { return nil }
            return StoredEventLocation(
                isInAppendedStream: statement.int64(at: 0) == key, streamVersion: statement.uint64(at: 1))
        }

        func storedEvents(from version: UInt64, limit: Int) throws(SQLiteError) -> [StoredEventReference] {
            guard let key else { return [] }
            let statement = selectStreamEvents
            defer { statement.reset() }
            statement.bind(key, at: 1)
            statement.bind(version, at: 2)
            statement.bind(Int64(limit), at: 3)
            var events: [StoredEventReference] = []
            events.reserveCapacity(limit)
            while try statement.step() {
                events.append(
                    StoredEventReference(
                        streamVersion: statement.uint64(at: 0), position: statement.uint64(at: 1),
                        eventID: statement.messageID(at: 2)))
            }
            return events
        }
    }
}
