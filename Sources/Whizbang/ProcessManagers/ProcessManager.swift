/// A workflow that reacts to events by sending commands: a ``Projection`` whose "read model" is the commands it
/// dispatched, run by a ``ProjectionRunner`` with its own checkpoint.
///
/// Implement ``handle(_:cause:)``; the default ``Projection/apply(_:)`` calls it for each event of a batch in order,
/// with the event's own envelope (``RecordedEvent/eventEnvelope()``) as the cause. Send commands with
/// ``AggregateHandler/send(_:to:metadata:causedBy:timeout:)`` passing that cause, so that each command continues the
/// conversation (same correlation id) and names the event as its cause (causation id = the event's id).
///
/// ## Delivery is at least once
/// The checkpoint is saved after each batch, so a crash (or a failed ``handle(_:cause:)``) delivers the events after
/// the last checkpoint again, and their commands are sent again. **Every command a process manager sends must be
/// idempotent in the domain**: the receiving aggregate must recognise a repeat and accept it without recording
/// anything. The usual way is to carry a business key in the command (a transfer id, an order id) and keep the keys
/// already handled in the aggregate's state:
///
/// ```swift
/// case .withdraw(let amount, let transferID):
///     if state.handledTransfers.contains(transferID) { return [] }   // a repeat: accept, record nothing
///     guard state.balance >= amount else { throw AccountError.insufficientFunds }
///     return [.withdrawn(Withdrawn(amount: amount, transferID: transferID))]
/// ```
///
/// and to record the workflow's own steps in a stream (such as a `Transfer` aggregate whose state says which steps
/// are done), consulting it before each step, so a redelivered event never repeats a step whose outcome is recorded.
///
/// A thrown error stops the runner; the events of the failed batch are delivered again when it next starts. Catch
/// the domain errors that are part of the workflow (a rejected credit that calls for a refund) and throw only
/// failures that should be retried. Since a process manager usually keeps no read model, the default
/// ``Projection/reset()`` does nothing; rebuilding one sends every command again, which idempotent commands make
/// harmless but slow.
public protocol ProcessManager: Projection {
    /// Reacts to one event, usually by sending commands with `cause` as their cause.
    ///
    /// - Parameters:
    ///   - event: the event, in global order.
    ///   - cause: the event's own envelope: message id = the event's id, correlation id = that of the command that
    ///     recorded it, its metadata carried forward. Pass it as `causedBy:` to the commands it leads to.
    func handle(_ event: RecordedEvent, cause: EnvelopeMetadata) async throws
}

extension ProcessManager {
    /// Calls ``handle(_:cause:)`` for each event in order.
    ///
    /// An event whose metadata is not an encoded ``EnvelopeMetadata`` (written by another tool) is handled as one
    /// that starts a conversation, rather than stopping the process manager on it for ever.
    ///
    /// - Throws: the first error from ``handle(_:cause:)``; the events after it in the batch are not handled.
    public func apply(_ events: [RecordedEvent]) async throws {
        for event in events {
            let cause = (try? event.eventEnvelope()) ?? event.conversationStartingEnvelope
            try await handle(event, cause: cause)
        }
    }

    /// Does nothing: a process manager keeps no read model by default.
    public func reset() async throws {}
}
