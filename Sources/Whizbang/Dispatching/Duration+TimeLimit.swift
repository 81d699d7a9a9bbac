extension Duration {
    /// The longest time the framework waits for one time limit: 100 years. A longer limit, such as
    /// `.seconds(Int64.max)` meant as "never", is waited for this long, since a deadline that far ahead does not fit
    /// a clock's instant and the clocks trap on it.
    @usableFromInline package static let longestTimeLimit: Duration = .seconds(100 * 365 * 86_400)

    /// This duration as a time limit: at most ``longestTimeLimit``, and at least its negative.
    @usableFromInline package var asTimeLimit: Duration {
        Swift.min(Swift.max(self, .zero - Self.longestTimeLimit), Self.longestTimeLimit)
    }
}
