extension EventStore {
    /// Finds the event with id `eventID` by reading the whole global log in batches: correct for any store, and as
    /// slow as the log is long. A store with an index on event ids answers `event(withID:)` itself.
    public func event(withID eventID: MessageID) async throws -> RecordedEvent? {
        var position: UInt64 = 0
        while true {
            try Task.checkCancellation()
            let batch = try await readAll(after: position, limit: 4_096)
            guard let last = batch.last else { return nil }
            if let found = batch.first(where: { $0.eventID == eventID }) { return found }
            position = last.position
        }
    }
}
