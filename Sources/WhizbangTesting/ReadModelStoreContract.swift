/// The rules every `ReadModelStore` keeps, as checks that run against any store.
///
/// Run each check in ``checks`` with a ``ReadModelStoreOpener`` on a fresh, empty database. The checks cover
/// queries (by key, key range, indexed value and pages, in UTF-8 key order), rows deleted by the fold, inline read
/// models (visible when the append returns; a throwing one fails the append and writes nothing), async read models
/// (they catch up; a throwing one fails the read model, not the append), invalid and unknown names and limits, a
/// backfill of a read model added to a store with history, a rebuild that readers never see half done, a version
/// bump that rebuilds, and a rebuild or version bump whose projection throws, which leaves the rows served.
///
/// The checks use no sleeps: they wait with `ReadModelStore/waitForReadModel(named:toReach:timeout:)`. Wrap the
/// test in a time limit so a store that loses a wake-up fails instead of hanging.
public enum ReadModelStoreContract {
    /// Every check of the contract, in a stable order, with unique names.
    public static let checks: [ReadModelStoreContractCheck] =
        queryChecks
        + inlineChecks
        + asyncChecks
        + registrationChecks
        + backfillChecks
}
