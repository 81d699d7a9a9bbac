import Foundation
import Histogram
import Whizbang
import WhizbangCluster

/// Runs the ledger workload's open and operate phases through a cluster's inbox instead of a local dispatcher,
/// keeping `concurrency` commands in flight.
///
/// As the local run, commands are admitted in sequence order through an ``OrderedWindow``: a command is sent only
/// after every earlier command on its account has its result, so each account's commands are sent, and applied, in
/// order, and the outcome is that of a one-at-a-time run.
///
/// A transfer is a `request` to its transfer stream; the cluster's process manager (``TransferProcess``, a job on
/// one of the nodes) then runs its steps. The run waits for the transfer's last step, whose id it derives from the
/// request's event, before it sends anything else to either account, as the local run waits for its saga.
struct ClusterWorkloadRun {
    let workload: LedgerWorkload
    let concurrency: Int
    let client: ClusterClient
    let ackLog: AckLog?
    var progress: ProgressLine
    /// Prefix of this run's transfer stream ids, so that runs on one kept database never reuse one.
    var transferPrefix = "transfer-"
    var stopRequested: @Sendable () -> Bool = { false }

    private(set) var ledger: LedgerBalances
    private(set) var statistics = RunStatistics()
    /// The commands sent whose results a stopped run did not wait for: they are in the inbox and run when a node
    /// takes them.
    private(set) var unanswered = 0

    /// How long a run stopped by a signal still waits for the results of the commands it has sent. With the nodes
    /// running, they come within it; with none, the commands would wait for one up to their time limit, which a
    /// stopped run does not.
    static let stopGrace: Duration = .seconds(3)

    init(
        workload: LedgerWorkload, concurrency: Int, client: ClusterClient, ackLog: AckLog?, progress: ProgressLine,
        baseline: [StreamID: Int]
    ) {
        self.workload = workload
        self.concurrency = concurrency
        self.client = client
        self.ackLog = ackLog
        self.progress = progress
        self.ledger = LedgerBalances(accounts: workload.accounts, baseline: baseline)
    }

    enum Job: Sendable {
        case open(Int)
        case deposit(Int, Int)
        case withdraw(Int, Int)
        case transfer(from: Int, to: Int, amount: Int)

        var keys: OrderedWindow.Keys {
            switch self {
            case .open(let account), .deposit(let account, _), .withdraw(let account, _): OrderedWindow.Keys(account)
            case .transfer(let from, let to, _): OrderedWindow.Keys(from, to)
            }
        }
    }

    /// How a transfer ended, with the balances it left.
    enum TransferOutcome: Sendable {
        case completed(fromBalance: Int, toBalance: Int)
        case compensated(fromBalance: Int)
        case failed
    }

    struct JobResult: Sendable {
        var sequence: Int
        var job: Job
        /// The command's result; for a transfer, that of its last step.
        var result: ClusterCommandResult
        var streamID: StreamID
        var nanoseconds: UInt64
        var transfer: TransferOutcome? = nil
        var events: Int
        var accepted: [(MessageID, StreamID)]
    }

    mutating func open() async throws {
        progress.begin(phase: "open", total: workload.accounts)
        let start = ContinuousClock.now
        try await run((0..<workload.accounts).lazy.map { Job.open($0) }, recordLatency: false)
        statistics.openSeconds = (ContinuousClock.now - start).seconds
        progress.end()
    }

    mutating func operate() async throws {
        progress.begin(phase: "operate", total: workload.commands)
        let start = ContinuousClock.now
        let jobs = workload.operations().lazy.map { operation -> Job in
            switch operation {
            case .deposit(let account, let amount): .deposit(account, amount)
            case .withdraw(let account, let amount): .withdraw(account, amount)
            case .transfer(let from, let to, let amount): .transfer(from: from, to: to, amount: amount)
            }
        }
        try await run(jobs, recordLatency: true)
        statistics.operateSeconds = (ContinuousClock.now - start).seconds
        progress.end()
    }

    private mutating func run<Jobs: Sequence<Job>>(_ jobs: Jobs, recordLatency: Bool) async throws {
        let client = self.client
        let streamIDs = LedgerWorkload.streamIDs(accounts: workload.accounts)
        let initialDeposit = workload.initialDeposit
        let transferPrefix = self.transferPrefix
        @Sendable func elapsed(since start: ContinuousClock.Instant) -> UInt64 {
            let elapsed = ContinuousClock.now - start
            return UInt64(max(0, elapsed.components.seconds)) * 1_000_000_000
                + UInt64(max(0, elapsed.components.attoseconds / 1_000_000_000))
        }
        @Sendable func perform(_ job: Job, sequence: Int) async throws -> JobResult {
            let start = ContinuousClock.now
            let command: Account.Command
            switch job {
            case .open: command = .open(initialDeposit: initialDeposit)
            case .deposit(_, let amount): command = .deposit(amount)
            case .withdraw(_, let amount): command = .withdraw(amount)
            case .transfer(let from, let to, let amount):
                // A target past the opened accounts has no account: its credit is rejected and the transfer compensated.
                func streamID(_ account: Int) -> StreamID {
                    account < streamIDs.count ? streamIDs[account] : StreamID(LedgerWorkload.streamName(account: account))
                }
                return try await transfer(
                    sequence: sequence, job: job, from: streamID(from), to: streamID(to), amount: amount, start: start)
            }
            let streamID = streamIDs[job.keys.first]
            let result = try await client.send(command, to: streamID, as: Account.self)
            return JobResult(
                sequence: sequence, job: job, result: result, streamID: streamID, nanoseconds: elapsed(since: start),
                events: result.eventCount,
                accepted: result.outcome == .accepted ? [(result.messageID, streamID)] : [])
        }
        @Sendable func transfer(
            sequence: Int, job: Job, from: StreamID, to: StreamID, amount: Int, start: ContinuousClock.Instant
        ) async throws -> JobResult {
            let stream = StreamID("\(transferPrefix)\(sequence)")
            let request = try await client.send(
                Transfer.Command.request(from: from.rawValue, to: to.rawValue, amount: amount), to: stream,
                as: Transfer.self)
            guard request.outcome == .accepted, let requested = request.eventIDs.first else {
                throw SampleError(
                    "transfer \(stream) was not requested: \(request.outcome.rawValue) \(request.reason ?? "")")
            }
            func step(_ name: String) async throws -> ClusterCommandResult {
                try await client.result(of: TransferProcess.stepID(name, ofRequest: requested))
            }
            // Follow the steps as the process manager sends them: each row appears soon after the one before.
            var steps = [(request, stream)]
            let debit = try await step("debit")
            steps.append((debit, from))
            let outcome: TransferOutcome
            let expected: Transfer.Stage
            if debit.outcome != .accepted {
                (outcome, expected) = (.failed, .failed)
            } else {
                let (recorded, credit) = (try await step("record-debit"), try await step("credit"))
                steps += [(recorded, stream), (credit, to)]
                if credit.outcome == .accepted {
                    outcome = .completed(
                        fromBalance: try debit.decodeState(as: Account.self).balance,
                        toBalance: try credit.decodeState(as: Account.self).balance)
                    expected = .completed
                } else {
                    let refund = try await step("refund")
                    steps.append((refund, from))
                    outcome = .compensated(fromBalance: try refund.decodeState(as: Account.self).balance)
                    expected = .compensated
                }
            }
            let finish = try await step("finish")
            steps.append((finish, stream))
            let stage = finish.outcome == .accepted ? try finish.decodeState(as: Transfer.self).stage : nil
            guard stage == expected else {
                throw SampleError(
                    "transfer \(stream) finished \(finish.outcome.rawValue) at stage \(stage?.rawValue ?? "?"), "
                        + "not \(expected.rawValue)")
            }
            let accepted = steps.filter { $0.0.outcome == .accepted }
            return JobResult(
                sequence: sequence, job: job, result: finish, streamID: stream, nanoseconds: elapsed(since: start),
                transfer: outcome, events: accepted.reduce(0) { $0 + $1.0.eventCount },
                accepted: accepted.map { ($0.0.messageID, $0.1) })
        }
        let stopRequested = self.stopRequested
        // A child that ends with `nil` marks a moment: the first, a stop asked for; the second, the end of the wait
        // for the results of the commands sent before it.
        try await withThrowingTaskGroup(of: JobResult?.self) { group in
            group.addTask {
                // The signal handler can only set a flag, so it is looked at, not waited on.
                while !stopRequested() { try await Task.sleep(for: .milliseconds(50)) }
                return nil
            }
            defer { group.cancelAll() }
            var window = OrderedWindow(limit: concurrency)
            var waiting: [Int: Job] = [:]
            var sequence = 0
            var completed = 0
            var inFlight = 0
            var stopping = false
            func send(_ job: Job, sequence: Int) {
                inFlight += 1
                group.addTask { try await perform(job, sequence: sequence) }
            }
            func handle(_ result: JobResult) throws {
                inFlight -= 1
                try record(result, recordLatency: recordLatency)
                completed += 1
                progress.update(done: completed)
                for ready in window.finish(result.sequence) {
                    let job = waiting.removeValue(forKey: ready)!
                    // After a stop, nothing more is sent.
                    if !stopping { send(job, sequence: ready) }
                }
            }
            // The next result, or `nil` once a stopped run has waited `stopGrace` for its commands' results.
            func next() async throws -> JobResult? {
                while let child = try await group.next() {
                    if let result = child { return result }
                    if stopping { return nil }
                    stopping = true
                    group.addTask {
                        try await Task.sleep(for: Self.stopGrace)
                        return nil
                    }
                }
                return nil
            }
            for job in jobs {
                while !stopping, !window.hasRoom, let result = try await next() { try handle(result) }
                if stopping || stopRequested() { break }
                let current = sequence
                if window.admit(current, keys: job.keys) {
                    send(job, sequence: current)
                } else {
                    waiting[current] = job
                }
                sequence += 1
            }
            while inFlight > 0, let result = try await next() { try handle(result) }
            unanswered += inFlight
        }
    }

    private mutating func record(_ jobResult: JobResult, recordLatency: Bool) throws {
        let result = jobResult.result
        if recordLatency { statistics.recordLatency(nanoseconds: jobResult.nanoseconds) }
        guard result.outcome != .failed else {
            throw SampleError(
                "command \(result.messageID) to \(jobResult.streamID) failed on node \(result.node): "
                    + "\(result.reason ?? "no reason")")
        }
        if let ackLog, !jobResult.accepted.isEmpty {
            try ackLog.acknowledge(jobResult.accepted)
        }
        let accepted = result.outcome == .accepted
        func balance() throws -> Int { try result.decodeState(as: Account.self).balance }
        let outcome: RunStatistics.Outcome
        switch jobResult.job {
        case .transfer(let from, let to, let amount):
            switch jobResult.transfer {
            case .completed(let fromBalance, let toBalance):
                outcome = .transferCompleted(
                    from: from, to: to, amount: amount, fromBalance: fromBalance, toBalance: toBalance)
            case .compensated(let fromBalance): outcome = .transferCompensated(from: from, fromBalance: fromBalance)
            case .failed, nil: outcome = .transferFailed
            }
        case .open(let account):
            outcome = try accepted ? .opened(account: account, balance: balance()) : .alreadyOpen
        case .deposit(let account, let amount):
            outcome = try accepted
                ? .deposited(account: account, amount: amount, balance: balance()) : .rejected(amount: amount)
        case .withdraw(let account, let amount):
            outcome = try accepted
                ? .withdrawn(account: account, amount: amount, balance: balance()) : .rejected(amount: amount)
        }
        statistics.record(outcome, events: jobResult.events, in: &ledger)
    }
}
