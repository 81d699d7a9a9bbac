import Whizbang

/// Records the outcomes of a ``WorkloadRun``'s commands: its statistics, the balances it keeps, its progress line and
/// its ack log.
struct WorkloadRecorder: Sendable {
    var statistics: RunStatistics
    var ledger: LedgerBalances
    var progress: ProgressLine
    let ackLog: AckLog?
    /// Whether the commands' latencies are recorded (the operate phase's).
    let recordsLatency: Bool
    /// The commands recorded so far.
    var completed = 0

    /// Counts a finished command, keeps the balance it reported and shows progress; throws if its outcome does not
    /// fit its command.
    mutating func record<Store: EventStore>(_ result: WorkloadRun<Store>.JobResult) throws {
        if recordsLatency { statistics.recordLatency(nanoseconds: result.nanoseconds) }
        let outcome: RunStatistics.Outcome
        switch (result.job, result.outcome) {
        case (.open(let account), .opened(let balance)): outcome = .opened(account: account, balance: balance)
        case (.open, .alreadyOpen): outcome = .alreadyOpen
        case (.operation(.deposit(let account, let amount)), .deposited(let balance)):
            outcome = .deposited(account: account, amount: amount, balance: balance)
        case (.operation(.withdraw(let account, let amount)), .withdrawn(let balance)):
            outcome = .withdrawn(account: account, amount: amount, balance: balance)
        case (.operation(.withdraw(_, let amount)), .rejected), (.operation(.deposit(_, let amount)), .rejected):
            outcome = .rejected(amount: amount)
        case (.operation(.transfer(let from, let to, let amount)), .transfer(let transfer)):
            switch transfer {
            case .completed(let fromBalance, let toBalance):
                outcome = .transferCompleted(
                    from: from, to: to, amount: amount, fromBalance: fromBalance, toBalance: toBalance)
            case .compensated(let fromBalance): outcome = .transferCompensated(from: from, fromBalance: fromBalance)
            case .failed: outcome = .transferFailed
            }
        default:
            throw SampleError("internal error: job \(result.job) ended with \(result.outcome)")
        }
        statistics.record(outcome, events: result.events, in: &ledger)
        if let ackLog, !result.accepted.isEmpty {
            try ackLog.acknowledge(result.accepted)
        }
        completed += 1
        progress.update(done: completed)
    }
}
