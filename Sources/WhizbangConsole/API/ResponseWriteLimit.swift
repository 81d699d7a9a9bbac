import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

/// Bounds the writes of one response by a deadline and by graceful shutdown, so that a client that stops reading
/// never keeps the console from stopping.
///
/// A write waits while the client takes none of what was sent: the socket and the server's buffers are full. When
/// the deadline passes or graceful shutdown begins, a write that is waiting ends with the connection, which is
/// closed; after that a write goes out only if the connection can take it without waiting, and otherwise the
/// connection is closed too. Without a connection to close (a context other than ``ConsoleRequestContext``) writes
/// are not bounded here.
final class ResponseWriteLimit: Sendable {
    private enum State {
        case idle
        case writing
        case expired
    }

    private let state = Mutex(State.idle)
    private let connection: (any Channel)?

    private init(connection: (any Channel)?) {
        self.connection = connection
    }

    /// `body`, written under a limit that passes at `deadline` or when graceful shutdown begins.
    static func body(
        _ body: ResponseBody,
        deadline: ContinuousClock.Instant,
        connection: (any Channel)?
    ) -> ResponseBody {
        ResponseBody(contentLength: body.contentLength) { writer in
            let limit = ResponseWriteLimit(connection: connection)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(until: deadline, clock: .continuous) }
                    // Cancelled: the response is written, or the server cancels the connection itself.
                    guard !Task.isCancelled else { return }
                    limit.expire()
                }
                defer { group.cancelAll() }
                try await body.write(LimitedWriter(parent: writer, limit: limit))
            }
        }
    }

    /// Marks the limit passed, and closes the connection if a write is waiting.
    private func expire() {
        let wasWriting = state.withLock { state in
            defer { state = .expired }
            return state == .writing
        }
        if wasWriting { connection?.close(promise: nil) }
    }

    /// Runs one write under the limit.
    fileprivate func write(_ body: () async throws -> Void) async throws {
        let mayWrite = state.withLock { state in
            switch state {
            case .idle:
                state = .writing
                return true
            case .writing:
                preconditionFailure("a response's writes overlap")
            case .expired:
                return connection?.isWritable ?? true
            }
        }
        guard mayWrite else {
            connection?.close(promise: nil)
            throw CancellationError()
        }
        defer {
            state.withLock { state in
                if state == .writing { state = .idle }
            }
        }
        try await body()
    }
}

/// Passes each write to the response's writer under its limit.
private struct LimitedWriter: ResponseBodyWriter {
    var parent: any ResponseBodyWriter
    let limit: ResponseWriteLimit

    mutating func write(_ buffer: ByteBuffer) async throws {
        try await limit.write { try await parent.write(buffer) }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        let parent = parent
        try await limit.write { try await parent.finish(trailingHeaders) }
    }
}
