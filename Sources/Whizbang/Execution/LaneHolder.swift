/// The numbers a serial lane records as its owner, so that a handler that submits work to the lane it holds is
/// detected instead of waiting for itself forever.
///
/// A handler that can suspend gets a holder number of its own when it claims the lane, under the lane's lock: odd,
/// never 1, and unique in its executor (in an ``ExecutorPool``, the shard's index is part of it). The handler runs with
/// a ``HandlerContext`` entry naming the executor and that number, which its child tasks inherit, so a caller that
/// finds the lane held by a number in its own context is waiting for itself or an ancestor.
///
/// A handler that cannot suspend cannot submit anything while it holds the lane (it cannot `await`), so it and every
/// caller queued to run one hold the lane as ``nonSuspending``, which no context ever names. Reading the running
/// task's identity instead (`withUnsafeCurrentTask`) cost about 40 ns per call.
@usableFromInline
enum LaneHolder {
    /// The owner recorded for a lane held by a handler that does not suspend.
    @inlinable
    static var nonSuspending: UInt { 1 }

    /// The `sequence`-th holder number of a lane owner (1, 2, …) in shard `shard` of an executor with up to 4,096
    /// shards; a ``SerialExecutor`` is one shard, 0.
    @inlinable
    static func number(_ sequence: UInt, shard: Int) -> UInt {
        (sequence << 13) | (UInt(shard) << 1) | 1
    }
}
