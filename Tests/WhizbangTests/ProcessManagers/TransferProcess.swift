import Synchronization
import Whizbang

/// Moves money for each requested transfer: debit the source, then credit the target, refunding the source when the
/// credit is rejected. Every command carries a reference naming the transfer and the step, so a repeat is a no-op
/// in the account; and each reaction first checks that the transfer's state still calls for it.
struct TransferProcess: ProcessManager {
    let name = "transfer-process"
    let accounts: AggregateHandler<SavingsAccount, InMemoryEventStore>
    let transfers: AggregateHandler<MoneyTransfer, InMemoryEventStore>
    /// Where the test makes the process die once, between two commands of one step.
    let faults = FaultInjector()

    func handle(_ event: RecordedEvent, cause: EnvelopeMetadata) async throws {
        guard let transferEvent = try event.decode(as: MoneyTransfer.self) else { return }
        let transfer = try await transfers.load(event.streamID).state
        let transferID = event.streamID.rawValue
        switch transferEvent {
        case .requested(let request):
            guard transfer.status == .requested else { return }
            do {
                _ = try await accounts.send(
                    .withdraw(amount: request.amount, reference: "\(transferID):debit"), to: request.source,
                    causedBy: cause)
            } catch let rejection as SavingsAccount.Rejection {
                _ = try await transfers.send(
                    .recordFailure(reason: rejection.reason.rawValue), to: event.streamID, causedBy: cause)
                return
            }
            try faults.check(.afterDebit)
            _ = try await transfers.send(.recordDebit, to: event.streamID, causedBy: cause)
        case .debited:
            guard transfer.status == .debited, let source = transfer.source, let target = transfer.target else {
                return
            }
            do {
                _ = try await accounts.send(
                    .deposit(amount: transfer.amount, reference: "\(transferID):credit"), to: target, causedBy: cause)
            } catch let rejection as SavingsAccount.Rejection {
                _ = try await accounts.send(
                    .deposit(amount: transfer.amount, reference: "\(transferID):refund"), to: source, causedBy: cause)
                try faults.check(.afterRefund)
                _ = try await transfers.send(
                    .recordCompensation(reason: rejection.reason.rawValue), to: event.streamID, causedBy: cause)
                return
            }
            try faults.check(.afterCredit)
            _ = try await transfers.send(.recordCredit, to: event.streamID, causedBy: cause)
        case .credited, .compensated, .failed:
            return
        }
    }
}

/// Fails once at each armed point, standing for the process dying there.
final class FaultInjector: Sendable {
    enum Point: Hashable, Sendable { case afterDebit, afterCredit, afterRefund }
    struct Injected: Error, Equatable { var point: Point }

    private let armed = Mutex<Set<Point>>([])

    func arm(_ point: Point) {
        armed.withLock { _ = $0.insert(point) }
    }

    func check(_ point: Point) throws {
        if armed.withLock({ $0.remove(point) }) != nil { throw Injected(point: point) }
    }
}
