import Synchronization

/// The handlers a task runs inside, carried as a task-local value so that child tasks inherit it.
///
/// An executor pushes an entry around each asynchronous handler: which executor runs it, and the holder number the
/// lane is held under for it. Two rules read it. A caller that would wait for a lane held under a number in its own
/// context is waiting for itself or an ancestor that waits for it, so it fails with
/// ``ExecutorError/Code/reentrantSubmission`` instead. And `drain()` called inside a handler of the executor being
/// drained cannot wait for that handler, so it stops admission and returns at once.
///
/// The innermost four entries are kept inline, without allocation; the outer ones of handlers nested deeper than
/// that go to an array, so that every entry counts however deep the nesting. Unstructured
/// tasks (`Task {}`) inherit task-local values too, so a task started inside a handler counts as part of it; start it
/// with `Task.detached` to queue work behind the handler instead.
@usableFromInline
struct HandlerContext: Sendable {
    @usableFromInline
    struct Entry: Sendable {
        /// The executor's identity (``ExecutorIdentity``).
        @usableFromInline var executor: UInt
        /// The lane's holder number (see ``LaneHolder``), or zero for a permit of a parallel executor.
        @usableFromInline var holder: UInt

        @inlinable
        init(executor: UInt, holder: UInt) {
            self.executor = executor
            self.holder = holder
        }

        @inlinable
        func matches(_ executor: UInt, _ holder: UInt) -> Bool {
            self.executor == executor && self.holder == holder
        }
    }

    @usableFromInline var first: Entry
    @usableFromInline var second: Entry
    @usableFromInline var third: Entry
    @usableFromInline var fourth: Entry
    /// The entries outside the innermost four, innermost first; `nil` (no allocation) until the fifth.
    @usableFromInline var outer: [Entry]?

    @inlinable
    init() {
        let empty = Entry(executor: 0, holder: 0)
        self.first = empty
        self.second = empty
        self.third = empty
        self.fourth = empty
        self.outer = nil
    }

    /// The task-local value; read it with `local.get()`, bind it with `local.withValue(_:operation:)`.
    @usableFromInline static let local = TaskLocal(wrappedValue: HandlerContext())

    /// The context of the running task.
    @inlinable
    static var current: HandlerContext { local.get() }

    /// This context with `entry` as its innermost handler.
    @inlinable
    func pushing(_ entry: Entry) -> HandlerContext {
        var context = self
        if fourth.executor != 0 { context.outer = [fourth] + (outer ?? []) }
        context.fourth = third
        context.third = second
        context.second = first
        context.first = entry
        return context
    }

    /// Whether a lane of `executor` held by `holder` is held for a handler this task runs inside.
    @inlinable
    func isHeld(by holder: UInt, in executor: UInt) -> Bool {
        guard holder > LaneHolder.nonSuspending else { return false }
        return first.matches(executor, holder) || second.matches(executor, holder)
            || third.matches(executor, holder) || fourth.matches(executor, holder)
            || outer?.contains { $0.matches(executor, holder) } == true
    }

    /// Whether this task runs inside a handler of `executor`.
    @inlinable
    func isInside(_ executor: UInt) -> Bool {
        first.executor == executor || second.executor == executor || third.executor == executor
            || fourth.executor == executor || outer?.contains { $0.executor == executor } == true
    }
}

/// The identities executors are recorded under in a ``HandlerContext``: a number each, never reused in the process.
/// An object's address would be: a mark that a handler's child task still carries after its executor is gone would
/// then match a new executor at the same address, and its calls would be taken for re-entrant ones.
enum ExecutorIdentity {
    private static let last = Atomic<UInt>(0)

    /// A new identity, from 1 up (0 is an empty entry).
    static func next() -> UInt {
        last.wrappingAdd(1, ordering: .relaxed).newValue
    }
}
