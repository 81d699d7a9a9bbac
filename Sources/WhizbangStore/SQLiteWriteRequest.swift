import Whizbang

/// A write waiting for the writer thread, with the continuation of the task that asked for it.
enum SQLiteWriteRequest {
    /// Append events to a stream.
    case append(Append)
    /// Save a consumer's checkpoint.
    case saveCheckpoint(consumer: String, position: UInt64, continuation: UnsafeContinuation<Void, any Error>)
    /// Save a snapshot.
    case saveSnapshot(Snapshot, continuation: UnsafeContinuation<Void, any Error>)
    /// Start building a new generation of a read model.
    case rebuildReadModel(name: String, continuation: UnsafeContinuation<Void, any Error>)

    /// An append, validated by the caller before it was queued.
    struct Append {
        var events: [EventData]
        var streamID: StreamID
        var expectedVersion: ExpectedVersion
        var continuation: UnsafeContinuation<AppendResult, any Error>
    }

    /// What a write came to, decided inside the transaction and reported after it commits.
    enum Outcome {
        case appended(AppendResult)
        case saved
        case failed(EventStoreError)
        /// A read model's refusal, which changed nothing.
        case refused(ReadModelError)
    }

    /// Resumes the waiting task with an outcome.
    func resume(with outcome: Outcome) {
        switch (self, outcome) {
        case (.append(let append), .appended(let result)):
            append.continuation.resume(returning: result)
        case (.append(let append), .failed(let error)):
            append.continuation.resume(throwing: error)
        case (.append(let append), .refused(let error)):
            append.continuation.resume(throwing: error)
        case (.saveCheckpoint(_, _, let continuation), .refused(let error)),
            (.saveSnapshot(_, let continuation), .refused(let error)),
            (.rebuildReadModel(_, let continuation), .refused(let error)):
            continuation.resume(throwing: error)
        case (.saveCheckpoint(_, _, let continuation), .failed(let error)),
            (.saveSnapshot(_, let continuation), .failed(let error)),
            (.rebuildReadModel(_, let continuation), .failed(let error)):
            continuation.resume(throwing: error)
        case (.saveCheckpoint(_, _, let continuation), _), (.saveSnapshot(_, let continuation), _),
            (.rebuildReadModel(_, let continuation), _):
            continuation.resume()
        case (.append(let append), .saved):
            append.continuation.resume(
                throwing: EventStoreError(.storageFailure, message: "internal error: an append reported no result")
            )
        }
    }

    /// Resumes the waiting task with an error.
    func fail(_ error: EventStoreError) {
        resume(with: .failed(error))
    }
}
