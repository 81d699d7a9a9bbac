import Foundation
import Histogram
import Whizbang

/// Runs the ledger workload's open and operate phases through the dispatcher, keeping `concurrency` commands in
/// flight, and keeps every account's balance as the dispatcher reports it.
///
/// Commands are admitted in sequence order through an ``OrderedWindow``, which starts a command only after every
/// earlier command on the same account finished; so the outcome is that of a one-at-a-time run, whatever the
/// concurrency. A fixed set of workers (``WorkloadWorkers``), one per command in flight, runs the commands, each
/// taking its next command itself.
struct WorkloadRun<Store: EventStore> {
    let workload: LedgerWorkload
    let concurrency: Int
    let accounts: AggregateHandler<Account, Store>
    let transfers: AggregateHandler<Transfer, Store>
    let ackLog: AckLog?
    var progress: ProgressLine
    /// Prefix of this run's transfer stream ids, so that runs on one kept database never reuse one.
    let transferPrefix: String
    /// Asked before each new command is admitted: `true` stops admitting; commands in flight still finish.
    var stopRequested: @Sendable () -> Bool = { false }
    /// Whether the operate phase records its ``RunStatistics/timeline`` (for `--report`; its histograms cost a few
    /// MiB).
    var recordsTimeline = true

    /// The balances as the run kept them.
    private(set) var ledger: LedgerBalances
    private(set) var statistics = RunStatistics()

    init(
        workload: LedgerWorkload, concurrency: Int, accounts: AggregateHandler<Account, Store>,
        transfers: AggregateHandler<Transfer, Store>, ackLog: AckLog?, progress: ProgressLine,
        baseline: [StreamID: Int], transferPrefix: String
    ) {
        self.workload = workload
        self.concurrency = concurrency
        self.accounts = accounts
        self.transfers = transfers
        self.ackLog = ackLog
        self.progress = progress
        self.transferPrefix = transferPrefix
        self.ledger = LedgerBalances(accounts: workload.accounts, baseline: baseline)
    }

    enum Job: Sendable {
        case open(Int)
        case operation(LedgerWorkload.Operation)

        var keys: OrderedWindow.Keys {
            switch self {
            case .open(let account): OrderedWindow.Keys(account)
            case .operation(.deposit(let account, _)), .operation(.withdraw(let account, _)): OrderedWindow.Keys(account)
            case .operation(.transfer(let from, let to, _)): OrderedWindow.Keys(from, to)
            }
        }
    }

    enum JobOutcome: Sendable {
        case opened(balance: Int)
        case alreadyOpen
        case deposited(balance: Int)
        case withdrawn(balance: Int)
        case rejected
        case transfer(TransferSaga<Store>.Outcome)
    }

    struct JobResult: Sendable {
        var sequence: Int
        var job: Job
        var outcome: JobOutcome
        var nanoseconds: UInt64
        var events: Int
        var accepted: [(MessageID, StreamID)]
    }

    /// Phase open: opens accounts `0 ..< accounts`; an account already open (on a kept database) is left as it is.
    mutating func open() async throws {
        progress.begin(phase: "open", total: workload.accounts)
        let start = ContinuousClock.now
        try await run((0..<workload.accounts).lazy.map { Job.open($0) }, recordLatency: false)
        statistics.openSeconds = (ContinuousClock.now - start).seconds
        progress.end()
    }

    /// Phase operate: the workload's commands in sequence order.
    mutating func operate() async throws {
        progress.begin(phase: "operate", total: workload.commands)
        let start = ContinuousClock.now
        if recordsTimeline { statistics.timeline.start(at: start) }
        try await run(workload.operations().lazy.map { Job.operation($0) }, recordLatency: true)
        statistics.operateSeconds = (ContinuousClock.now - start).seconds
        progress.end()
    }

    private mutating func run<Jobs: Sequence<Job>>(_ jobs: sending Jobs, recordLatency: Bool) async throws {
        let context = JobContext(
            accounts: accounts, saga: TransferSaga(accounts: accounts, transfers: transfers),
            initialDeposit: workload.initialDeposit, transferPrefix: transferPrefix, keepsAccepted: ackLog != nil)
        let recorder = WorkloadRecorder(
            statistics: statistics, ledger: ledger, progress: progress, ackLog: ackLog, recordsLatency: recordLatency)
        let workers = WorkloadWorkers<Store>(
            jobs, limit: concurrency, recorder: recorder, stopRequested: stopRequested)
        defer {
            let recorder = workers.recorder
            statistics = recorder.statistics
            ledger = recorder.ledger
            progress = recorder.progress
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    try await workers.work { sequence, job in try await context.perform(job, sequence: sequence) }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// What a job needs to run, shared by the workers.
private struct JobContext<Store: EventStore>: Sendable {
    let accounts: AggregateHandler<Account, Store>
    let saga: TransferSaga<Store>
    let initialDeposit: Int
    let transferPrefix: String
    /// Whether a job reports the commands it got accepted (for the ack log); without one, it allocates no list.
    let keepsAccepted: Bool

    /// The account's stream id, made for each command: an array of them cost 2.4 MiB at 100,000 accounts.
    func streamID(_ account: Int) -> StreamID {
        StreamID(LedgerWorkload.streamName(account: account))
    }

    func perform(_ job: WorkloadRun<Store>.Job, sequence: Int) async throws -> WorkloadRun<Store>.JobResult {
        let start = ContinuousClock.now
        var events = 0
        var accepted: [(MessageID, StreamID)] = []
        let outcome: WorkloadRun<Store>.JobOutcome
        switch job {
        case .open(let account):
            do {
                let result = try await accounts.send(.open(initialDeposit: initialDeposit), to: streamID(account))
                events = result.events.count
                if keepsAccepted { accepted.append((result.envelope.messageID, result.aggregate.streamID)) }
                outcome = .opened(balance: result.aggregate.state.balance)
            } catch AccountRejection.alreadyOpen {
                outcome = .alreadyOpen
            }
        case .operation(.deposit(let account, let amount)), .operation(.withdraw(let account, let amount)):
            let isDeposit = if case .operation(.deposit) = job { true } else { false }
            do {
                let result = try await accounts.send(
                    isDeposit ? .deposit(amount) : .withdraw(amount), to: streamID(account))
                events = result.events.count
                if keepsAccepted { accepted.append((result.envelope.messageID, result.aggregate.streamID)) }
                let balance = result.aggregate.state.balance
                outcome = isDeposit ? .deposited(balance: balance) : .withdrawn(balance: balance)
            } catch is AccountRejection {
                outcome = .rejected
            }
        case .operation(.transfer(let from, let to, let amount)):
            let result = try await saga.run(
                StreamID("\(transferPrefix)\(sequence)"), from: streamID(from), to: streamID(to), amount: amount)
            events = result.eventsWritten
            if keepsAccepted { accepted = result.accountCommands }
            outcome = .transfer(result.outcome)
        }
        let elapsed = ContinuousClock.now - start
        let nanoseconds = UInt64(max(0, elapsed.components.seconds)) * 1_000_000_000
            + UInt64(max(0, elapsed.components.attoseconds / 1_000_000_000))
        return .init(
            sequence: sequence, job: job, outcome: outcome, nanoseconds: nanoseconds, events: events,
            accepted: accepted)
    }
}

/// What the open and operate phases did.
struct RunStatistics: Sendable {
    var opened = 0
    var alreadyOpen = 0
    var openSeconds = 0.0
    var deposits = 0
    var depositSum = 0
    var withdrawals = 0
    var withdrawSum = 0
    var rejected = 0
    var rejectedSum = 0
    var transfersCompleted = 0
    var transferSum = 0
    var transfersCompensated = 0
    var transfersFailed = 0
    var operateSeconds = 0.0
    var eventsWritten = 0
    /// Latency of the operate phase's commands, in microseconds.
    var latency = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    /// The operate phase's commands over time, for `--report`.
    var timeline = RunTimeline()

    /// Commands accepted in the operate phase; a transfer counts when it completed.
    var accepted: Int { deposits + withdrawals + transfersCompleted }
    /// Commands rejected in the operate phase: withdrawals over the balance, and transfers that failed or were
    /// compensated.
    var rejectedCommands: Int { rejected + transfersFailed + transfersCompensated }
}

extension RunStatistics {
    /// What one command of the open or operate phase ended with, with what the statistics and the kept balances
    /// need of it; the local run and the cluster run both record their commands as one of these.
    enum Outcome: Sendable {
        case opened(account: Int, balance: Int)
        case alreadyOpen
        case deposited(account: Int, amount: Int, balance: Int)
        case withdrawn(account: Int, amount: Int, balance: Int)
        /// A deposit or withdrawal the account refused.
        case rejected(amount: Int)
        case transferCompleted(from: Int, to: Int, amount: Int, fromBalance: Int, toBalance: Int)
        case transferCompensated(from: Int, fromBalance: Int)
        case transferFailed
    }

    /// Counts a command's outcome and the events it wrote, and keeps the balances it reported in `ledger`.
    mutating func record(_ outcome: Outcome, events: Int, in ledger: inout LedgerBalances) {
        eventsWritten += events
        switch outcome {
        case .opened(let account, let balance):
            opened += 1
            ledger.record(balance, account: account)
        case .alreadyOpen:
            alreadyOpen += 1
        case .deposited(let account, let amount, let balance):
            deposits += 1
            depositSum += amount
            ledger.record(balance, account: account)
        case .withdrawn(let account, let amount, let balance):
            withdrawals += 1
            withdrawSum += amount
            ledger.record(balance, account: account)
        case .rejected(let amount):
            rejected += 1
            rejectedSum += amount
        case .transferCompleted(let from, let to, let amount, let fromBalance, let toBalance):
            transfersCompleted += 1
            transferSum += amount
            ledger.record(fromBalance, account: from)
            ledger.record(toBalance, account: to)
        case .transferCompensated(let from, let fromBalance):
            transfersCompensated += 1
            ledger.record(fromBalance, account: from)
        case .transferFailed:
            transfersFailed += 1
        }
    }

    /// Records an operate-phase command's latency, rounded to microseconds (at least 1), in the histogram and the
    /// timeline.
    mutating func recordLatency(nanoseconds: UInt64) {
        let microseconds = max(1, (nanoseconds + 500) / 1000)
        _ = latency.record(microseconds)
        timeline.record(microseconds: microseconds)
    }
}
