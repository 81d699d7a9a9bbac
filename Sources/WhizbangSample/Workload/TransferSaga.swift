import Whizbang

/// Moves money between two accounts in recorded steps, compensating when the credit is rejected.
///
/// The dispatcher has no process manager yet, so the saga drives the steps itself, each a command through the
/// dispatcher: the transfer is requested, the source debited (or the transfer fails), the debit recorded, the target
/// credited and the transfer completed — or, when the target rejects the credit, the source refunded and the
/// transfer compensated. Every step is an event, so a transfer cut short by a crash is visible in the log (its money
/// is "in flight") and can be finished from its last step.
struct TransferSaga<Store: EventStore>: Sendable {
    let accounts: AggregateHandler<Account, Store>
    let transfers: AggregateHandler<Transfer, Store>

    enum Outcome: Sendable, Hashable {
        case completed(fromBalance: Int, toBalance: Int)
        case compensated(fromBalance: Int)
        case failed
    }

    struct Result: Sendable {
        var outcome: Outcome
        var eventsWritten: Int
        /// The accepted account commands, by message id, with the account each wrote to.
        var accountCommands: [(MessageID, StreamID)]
    }

    func run(_ transfer: StreamID, from: StreamID, to: StreamID, amount: Int) async throws -> Result {
        var events = 0
        var commands: [(MessageID, StreamID)] = []
        events += try await transfers.send(
            .request(from: from.rawValue, to: to.rawValue, amount: amount), to: transfer
        ).events.count
        let debit: CommandResult<Account>
        do {
            debit = try await accounts.send(.debit(transfer: transfer.rawValue, amount: amount), to: from)
        } catch let rejection as AccountRejection {
            events += try await transfers.send(.recordFailure(reason: "\(rejection)"), to: transfer).events.count
            return Result(outcome: .failed, eventsWritten: events, accountCommands: commands)
        }
        events += debit.events.count
        commands.append((debit.envelope.messageID, from))
        events += try await transfers.send(.recordDebit, to: transfer).events.count
        do {
            let credit = try await accounts.send(.credit(transfer: transfer.rawValue, amount: amount), to: to)
            events += credit.events.count
            commands.append((credit.envelope.messageID, to))
            events += try await transfers.send(.complete, to: transfer).events.count
            return Result(
                outcome: .completed(fromBalance: debit.aggregate.state.balance, toBalance: credit.aggregate.state.balance),
                eventsWritten: events, accountCommands: commands)
        } catch let rejection as AccountRejection {
            let refund = try await accounts.send(.refund(transfer: transfer.rawValue, amount: amount), to: from)
            events += refund.events.count
            commands.append((refund.envelope.messageID, from))
            events += try await transfers.send(.compensate(reason: "\(rejection)"), to: transfer).events.count
            return Result(
                outcome: .compensated(fromBalance: refund.aggregate.state.balance), eventsWritten: events,
                accountCommands: commands)
        }
    }
}
