/// The identity of the task that is running, as a number that no other live task shares.
///
/// Serial lanes record which task holds them, so that a handler that submits work to the lane it is running on is
/// detected instead of waiting for itself forever. The number is the address of the task object, so it is unique
/// among live tasks; zero means "no task".
@usableFromInline
enum TaskIdentity {
    @inlinable
    static var current: UInt {
        withUnsafeCurrentTask { task in
            guard let task else { return 0 }
            // `UnsafeCurrentTask` is a single reference to the running task's object.
            return unsafeBitCast(task, to: UInt.self)
        }
    }
}
