/// What ``LedgerStore/create(path:fresh:durability:)`` throws for a kept run (`--keep`) that found no ledger, when a
/// ledger appeared at the path while the run made its own: another run made it meanwhile. The run's own new ledger was
/// never put in its place, so nothing was replaced; the run adds to that ledger instead, as `--keep` does to any,
/// once it has checked it as a kept ledger is checked (``RunCommand``).
struct LedgerAppeared: Error, CustomStringConvertible {
    /// The path that holds a ledger now.
    var path: String
    /// The creation's own refusal: what the run says if it cannot go on to that ledger.
    var refusal: SampleError

    var description: String { refusal.description }
}
