import Whizbang

/// A transfer between two accounts, recorded step by step so that an interrupted one can be seen and finished.
///
/// The ledger's transfer saga (``TransferSaga``) drives it: `Requested`, then the source account's debit
/// (`Debited`, or `Failed` when the source has too little), then the target's credit (`Completed`), or, when the
/// credit is rejected, a refund of the source (`Compensated`).
enum Transfer: Aggregate {
    enum Stage: String, Codable, Hashable, Sendable {
        case none, requested, debited, completed, failed, compensated
    }

    struct State: Codable, Hashable, Sendable {
        var stage = Stage.none
        var from = ""
        var to = ""
        var amount = 0
    }

    enum Command: Sendable {
        case request(from: String, to: String, amount: Int)
        case recordDebit
        case recordFailure(reason: String)
        case complete
        case compensate(reason: String)
    }

    struct Requested: Codable, Hashable, Sendable {
        var from: String
        var to: String
        var amount: Int
    }

    struct Outcome: Codable, Hashable, Sendable {
        var reason: String?
    }

    enum Event: Sendable, Hashable {
        case requested(Requested)
        case debited(Outcome)
        case failed(Outcome)
        case completed(Outcome)
        case compensated(Outcome)
    }

    static let initialState = State()

    static let events = EventRegistry<Event>()
        .registering("TransferRequested", Requested.self, embed: Event.requested) {
            if case .requested(let event) = $0 { event } else { nil }
        }
        .registering("TransferDebitRecorded", Outcome.self, embed: Event.debited) {
            if case .debited(let event) = $0 { event } else { nil }
        }
        .registering("TransferFailed", Outcome.self, embed: Event.failed) {
            if case .failed(let event) = $0 { event } else { nil }
        }
        .registering("TransferCompleted", Outcome.self, embed: Event.completed) {
            if case .completed(let event) = $0 { event } else { nil }
        }
        .registering("TransferCompensated", Outcome.self, embed: Event.compensated) {
            if case .compensated(let event) = $0 { event } else { nil }
        }

    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .requested(let requested):
            state.stage = .requested
            state.from = requested.from
            state.to = requested.to
            state.amount = requested.amount
        case .debited: state.stage = .debited
        case .failed: state.stage = .failed
        case .completed: state.stage = .completed
        case .compensated: state.stage = .compensated
        }
        return state
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch (command, state.stage) {
        case (.request(let from, let to, let amount), .none):
            return [.requested(Requested(from: from, to: to, amount: amount))]
        case (.recordDebit, .requested): return [.debited(Outcome())]
        case (.recordFailure(let reason), .requested): return [.failed(Outcome(reason: reason))]
        case (.complete, .debited): return [.completed(Outcome())]
        case (.compensate(let reason), .debited): return [.compensated(Outcome(reason: reason))]
        default: throw TransferRejection(stage: state.stage)
        }
    }
}

/// A transfer step that does not follow from the transfer's stage.
struct TransferRejection: Error, CustomStringConvertible {
    let stage: Transfer.Stage
    var description: String { "the step does not apply to a transfer at stage \(stage.rawValue)" }
}
