import Whizbang

/// The record of one transfer's steps: requested → debited → credited, or → compensated when the credit is
/// rejected, or requested → failed when the debit is. Each step is recorded once; recording a step already recorded
/// is accepted without recording anything, and the process manager consults the state before acting, so a
/// redelivered event never repeats a step.
enum MoneyTransfer: Aggregate {
    enum Status: String, Codable, Sendable { case none, requested, debited, credited, compensated, failed }

    struct State: Codable, Sendable, Equatable {
        var status = Status.none
        var source: StreamID?
        var target: StreamID?
        var amount = 0
        var reason: String?
    }

    enum Command: Sendable {
        case request(from: StreamID, to: StreamID, amount: Int)
        case recordDebit
        case recordCredit
        case recordCompensation(reason: String)
        case recordFailure(reason: String)
    }

    enum Event: Sendable, Equatable {
        case requested(Requested)
        case debited(Debited)
        case credited(Credited)
        case compensated(Compensated)
        case failed(Failed)
    }

    struct Requested: Codable, Sendable, Equatable {
        var source: StreamID
        var target: StreamID
        var amount: Int
    }
    struct Debited: Codable, Sendable, Equatable {}
    struct Credited: Codable, Sendable, Equatable {}
    struct Compensated: Codable, Sendable, Equatable { var reason: String }
    struct Failed: Codable, Sendable, Equatable { var reason: String }

    struct InvalidStep: Error, Equatable {
        var status: Status
    }

    static let initialState = State()

    static let events = EventRegistry<Event>()
        .registering("TransferRequested", Requested.self, embed: Event.requested) {
            if case .requested(let event) = $0 { event } else { nil }
        }
        .registering("TransferDebited", Debited.self, embed: Event.debited) {
            if case .debited(let event) = $0 { event } else { nil }
        }
        .registering("TransferCredited", Credited.self, embed: Event.credited) {
            if case .credited(let event) = $0 { event } else { nil }
        }
        .registering("TransferCompensated", Compensated.self, embed: Event.compensated) {
            if case .compensated(let event) = $0 { event } else { nil }
        }
        .registering("TransferFailed", Failed.self, embed: Event.failed) {
            if case .failed(let event) = $0 { event } else { nil }
        }

    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .requested(let request):
            state.status = .requested
            state.source = request.source
            state.target = request.target
            state.amount = request.amount
        case .debited: state.status = .debited
        case .credited: state.status = .credited
        case .compensated(let compensation):
            state.status = .compensated
            state.reason = compensation.reason
        case .failed(let failure):
            state.status = .failed
            state.reason = failure.reason
        }
        return state
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch (command, state.status) {
        case (.request(let source, let target, let amount), .none):
            return [.requested(Requested(source: source, target: target, amount: amount))]
        case (.recordDebit, .requested): return [.debited(Debited())]
        case (.recordDebit, .debited), (.recordDebit, .credited), (.recordDebit, .compensated): return []
        case (.recordCredit, .debited): return [.credited(Credited())]
        case (.recordCredit, .credited): return []
        case (.recordCompensation(let reason), .debited): return [.compensated(Compensated(reason: reason))]
        case (.recordCompensation, .compensated): return []
        case (.recordFailure(let reason), .requested): return [.failed(Failed(reason: reason))]
        case (.recordFailure, .failed): return []
        default: throw InvalidStep(status: state.status)
        }
    }
}
