import Whizbang

/// Moves money between two accounts in recorded steps, compensating when the credit is rejected.
///
/// The dispatcher has no process manager yet, so the saga drives the steps itself, each a command through the
/// dispatcher: the transfer is requested, the source debited (or the transfer fails), the debit recorded, the target
/// credited and the transfer completed — or, when the target rejects the credit, the source refunded and the
/// transfer compensated. Every step is an event, so a transfer cut short by a crash is visible in the log (its money
/// is "in flight"), and ``resume(_:steps:)`` finishes it from its last step.
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

    /// The account steps of a transfer that its source and target accounts' logs show: whether each account event
    /// naming the transfer is there.
    struct AccountSteps: Sendable, Hashable {
        var debited = false
        var credited = false
        var refunded = false
    }

    func run(_ transfer: StreamID, from: StreamID, to: StreamID, amount: Int) async throws -> Result {
        let events = try await transfers.send(
            .request(from: from.rawValue, to: to.rawValue, amount: amount), to: transfer
        ).events.count
        var result = try await proceed(
            transfer, from: from, to: to, amount: amount, stage: .requested, steps: AccountSteps())
        result.eventsWritten += events
        return result
    }

    /// Finishes a transfer that a stopped run left at `stage` (requested or debited), given the account steps the
    /// log shows for it: a step already in an account's log is recorded on the transfer, not taken again. Returns
    /// `nil` for a transfer that is finished or was never requested.
    func resume(_ transfer: StreamID, steps: AccountSteps) async throws -> Result? {
        let state = try await transfers.load(transfer).state
        guard state.stage == .requested || state.stage == .debited else { return nil }
        return try await proceed(
            transfer, from: StreamID(state.from), to: StreamID(state.to), amount: state.amount, stage: state.stage,
            steps: steps)
    }

    /// The steps after `stage`, skipping the account steps `steps` says are done.
    private func proceed(
        _ transfer: StreamID, from: StreamID, to: StreamID, amount: Int, stage: Transfer.Stage, steps: AccountSteps
    ) async throws -> Result {
        var events = 0
        var commands: [(MessageID, StreamID)] = []
        var fromBalance: Int?
        if stage == .requested {
            if !steps.debited {
                do {
                    let debit = try await accounts.send(.debit(transfer: transfer.rawValue, amount: amount), to: from)
                    events += debit.events.count
                    commands.append((debit.envelope.messageID, from))
                    fromBalance = debit.aggregate.state.balance
                } catch let rejection as AccountRejection {
                    let failure = try await transfers.send(.recordFailure(reason: "\(rejection)"), to: transfer)
                    events += failure.events.count
                    return Result(outcome: .failed, eventsWritten: events, accountCommands: commands)
                }
            }
            events += try await transfers.send(.recordDebit, to: transfer).events.count
        }
        if steps.credited {
            events += try await transfers.send(.complete, to: transfer).events.count
            return Result(
                outcome: .completed(
                    fromBalance: try await balance(from, else: fromBalance), toBalance: try await balance(to)),
                eventsWritten: events, accountCommands: commands)
        }
        if !steps.refunded {
            do {
                let credit = try await accounts.send(.credit(transfer: transfer.rawValue, amount: amount), to: to)
                events += credit.events.count
                commands.append((credit.envelope.messageID, to))
                events += try await transfers.send(.complete, to: transfer).events.count
                return Result(
                    outcome: .completed(
                        fromBalance: try await balance(from, else: fromBalance),
                        toBalance: credit.aggregate.state.balance),
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
        events += try await transfers.send(.compensate(reason: "refunded before a stop"), to: transfer).events.count
        return Result(
            outcome: .compensated(fromBalance: try await balance(from)), eventsWritten: events,
            accountCommands: commands)
    }

    /// The balance of `account`: `known` if given, else its state loaded.
    private func balance(_ account: StreamID, else known: Int? = nil) async throws -> Int {
        if let known { return known }
        return try await accounts.load(account).state.balance
    }
}
