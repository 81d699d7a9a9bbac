/// Time limits for the waits of tests on a PostgreSQL server that must end in success.
///
/// Such a limit only turns a hang into a failure; it measures nothing. A wait that a test starts with a store's
/// start counts that start too (connects, the schema's migration, the read models' registration): with the whole
/// suite starting at once on a small machine, each of those statements waits its turn for a core, and a store took 25
/// seconds to open (a traced run), where it takes a tenth of a second alone. Limits of 20 or 30 seconds then failed
/// tests that had nothing wrong. A wait whose limit is the behaviour under test (a time-out that must happen, a wait
/// that must end well before another time) keeps its own limit.
public enum TestPatience {
    /// The limit of a wait that must succeed: 180 seconds.
    public static let success: Duration = .seconds(180)
}
