/// A read model that an ``InMemoryEventStore`` updates inside each append, atomically with it.
///
/// An inline projection never lags the log: once an append returns, its events are in the read model. ``apply(_:)``
/// runs under the store's lock, so it must be quick, must not call back into the store, and should throw before
/// changing anything: when it throws, the append fails with ``EventStoreError/Code/inlineProjectionFailed`` and its
/// events are not stored, so an append that it refused leaves no trace in it. The store cannot undo a projection's
/// changes: one that applied an append which a later projection of the store then refused keeps those events (see
/// ``InMemoryEventStore/Configuration/inlineProjections``). Keep the read model's state behind a lock of its own for
/// readers.
public protocol InMemoryInlineProjection: Sendable {
    /// A name for errors and logs.
    var name: String { get }

    /// Applies the events of one append, in order, before the append becomes visible.
    func apply(_ events: [RecordedEvent]) throws
}
