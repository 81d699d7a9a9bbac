/// The identity of the task that is running, as a number that no other live task shares.
///
/// Serial lanes record which task holds them, so that a handler that submits work to the lane it is running on is
/// detected instead of waiting for itself forever. The number is the address of the task object, so it is unique
/// among live tasks; zero means "no task".
@usableFromInline
enum TaskIdentity {
    /// The running task's identity.
    ///
    /// `withUnsafeCurrentTask` is an unspecialised generic in the Concurrency library (value witnesses, a retain and
    /// release of the task, a thread-local lookup), so the executors read it only where it is needed: when a handler
    /// that can suspend claims a lane, and on every path that waits.
    @inlinable
    static var current: UInt {
        withUnsafeCurrentTask { task in
            guard let task else { return 0 }
            // `UnsafeCurrentTask` is a single reference to the running task's object.
            return unsafeBitCast(task, to: UInt.self)
        }
    }

    /// The owner recorded for a lane held by a handler that does not suspend.
    ///
    /// Such a handler cannot submit anything to the lane it holds (it cannot `await`), so nothing ever needs to be
    /// compared with its task: any caller that finds the lane held by it is another task and waits. Task objects are
    /// aligned, so no task has this address.
    @inlinable
    static var nonSuspendingHandler: UInt { 1 }
}
