import Foundation

/// A fixed set of long-lived threads that run one body together, for the raw baselines' concurrent appenders (so
/// that a round measures appends, not thread creation).
///
/// `@unchecked Sendable`: every mutable property is guarded by `condition`.
final class ThreadGang: @unchecked Sendable {
    typealias Body = @Sendable (_ threadIndex: Int) -> Void

    private let condition = NSCondition()
    private var generation = 0
    private var body: Body?
    private var running = 0
    private var isStopping = false
    private var finished: UnsafeContinuation<Void, Never>?

    init(threadCount: Int, name: String) {
        for index in 0..<threadCount {
            let thread = Thread { [self] in loop(index) }
            thread.name = "\(name).\(index)"
            thread.start()
        }
    }

    /// Runs `body(index)` on every thread at once and returns when all have returned.
    func run(_ body: @escaping Body, threadCount: Int) async {
        await withUnsafeContinuation { continuation in
            condition.lock()
            self.body = body
            finished = continuation
            running = threadCount
            generation += 1
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Lets every thread end.
    func stop() {
        condition.lock()
        isStopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop(_ index: Int) {
        var seen = 0
        while true {
            condition.lock()
            while generation == seen && !isStopping { condition.wait() }
            if isStopping {
                condition.unlock()
                return
            }
            seen = generation
            let body = self.body!
            condition.unlock()

            body(index)

            condition.lock()
            running -= 1
            let continuation = running == 0 ? finished : nil
            if running == 0 { finished = nil }
            condition.unlock()
            continuation?.resume()
        }
    }
}
