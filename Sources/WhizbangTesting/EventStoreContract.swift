/// The rules every `EventStore` keeps, as checks that run against any store.
///
/// Run each check in ``checks`` against a fresh, empty store of the kind under test. The checks cover expected
/// versions on new and existing streams, empty appends, idempotent retries and what is not one, duplicate event ids,
/// validation, reading streams and the global log, finding an event by id, checkpoints, snapshots, and concurrency: racing appends, many
/// streams appended in parallel, subscriptions across the catch-up/live boundary and waiting for events; the
/// identity rule of stream ids (`StreamID`), final cancellation of subscriptions, and every branch of the shared
/// append rule (`AppendDecision`).
///
/// Each check takes well under a second on `InMemoryEventStore` and uses no sleeps: it waits for work through
/// counts and continuations. Wrap the test in a time limit so a store that loses a wake-up fails instead of hanging.
public enum EventStoreContract {
    /// Every check of the contract, in a stable order, with unique names.
    public static let checks: [EventStoreContractCheck] =
        expectedVersionChecks
        + emptyAppendChecks
        + idempotencyChecks
        + validationChecks
        + readingChecks
        + eventLookupChecks
        + envelopeMetadataChecks
        + checkpointAndSnapshotChecks
        + concurrencyChecks
        + identityChecks
        + cancellationChecks
        + appendDecisionChecks
}
