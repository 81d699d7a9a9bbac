/// Whole-nanosecond durations, the form hops encode durations in.
extension Duration {
    /// The duration in whole nanoseconds, truncated toward zero and clamped to `Int64` (about ±292 years).
    var wholeNanoseconds: Int64 {
        Int64(clamping: attoseconds / 1_000_000_000)
    }

    /// The duration truncated to whole nanoseconds, so that it survives encoding as ``wholeNanoseconds`` unchanged.
    var truncatedToNanoseconds: Duration {
        .nanoseconds(wholeNanoseconds)
    }
}
