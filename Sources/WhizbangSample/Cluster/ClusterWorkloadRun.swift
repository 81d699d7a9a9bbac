import Foundation
import Histogram
import Whizbang
import WhizbangCluster

/// Runs the ledger workload's open and operate phases through a cluster's inbox instead of a local dispatcher,
/// keeping `concurrency` commands in flight.
///
/// As the local run, commands are admitted in sequence order through an ``OrderedWindow``: a command is sent only
/// after every earlier command on its account has its result, so each account's commands are sent, and applied, in
/// order, and the outcome is that of a one-at-a-time run. Transfers are not supported through the cluster.
struct ClusterWorkloadRun {
    let workload: LedgerWorkload
    let concurrency: Int
    let client: ClusterClient
    let ackLog: AckLog?
    var progress: ProgressLine
    var stopRequested: @Sendable () -> Bool = { false }

    private(set) var ledger: LedgerBalances
    private(set) var statistics = RunStatistics()

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

    /// Every balance the run kept, by stream.
    var keptBalances: [StreamID: Int] { ledger.kept }

    enum Job: Sendable {
        case open(Int)
        case deposit(Int, Int)
        case withdraw(Int, Int)

        var account: Int {
            switch self {
            case .open(let account), .deposit(let account, _), .withdraw(let account, _): account
            }
        }
    }

    struct JobResult: Sendable {
        var sequence: Int
        var job: Job
        var result: ClusterCommandResult
        var streamID: StreamID
        var nanoseconds: UInt64
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
            case .transfer: preconditionFailure("transfers are refused before the run")
            }
        }
        try await run(jobs, recordLatency: true)
        statistics.operateSeconds = (ContinuousClock.now - start).seconds
        progress.end()
    }

    private mutating func run<Jobs: Sequence<Job>>(_ jobs: Jobs, recordLatency: Bool) async throws {
        let client = self.client
        let streamIDs = ledger.streamIDs
        let initialDeposit = workload.initialDeposit
        @Sendable func perform(_ job: Job, sequence: Int) async throws -> JobResult {
            let start = ContinuousClock.now
            let command: Account.Command =
                switch job {
                case .open: .open(initialDeposit: initialDeposit)
                case .deposit(_, let amount): .deposit(amount)
                case .withdraw(_, let amount): .withdraw(amount)
                }
            let streamID = streamIDs[job.account]
            let result = try await client.send(command, to: streamID, as: Account.self)
            let elapsed = ContinuousClock.now - start
            let nanoseconds = UInt64(max(0, elapsed.components.seconds)) * 1_000_000_000
                + UInt64(max(0, elapsed.components.attoseconds / 1_000_000_000))
            return JobResult(sequence: sequence, job: job, result: result, streamID: streamID, nanoseconds: nanoseconds)
        }
        try await withThrowingTaskGroup(of: JobResult.self) { group in
            var window = OrderedWindow(limit: concurrency)
            var waiting: [Int: Job] = [:]
            var sequence = 0
            var completed = 0
            func handle(_ result: JobResult) throws {
                try record(result, recordLatency: recordLatency)
                completed += 1
                progress.update(done: completed)
                for ready in window.finish(result.sequence) {
                    let job = waiting.removeValue(forKey: ready)!
                    group.addTask { try await perform(job, sequence: ready) }
                }
            }
            for job in jobs {
                if stopRequested() { break }
                while !window.hasRoom, let result = try await group.next() { try handle(result) }
                let current = sequence
                if window.admit(current, keys: [job.account]) {
                    group.addTask { try await perform(job, sequence: current) }
                } else {
                    waiting[current] = job
                }
                sequence += 1
            }
            while let result = try await group.next() { try handle(result) }
        }
    }

    private mutating func record(_ jobResult: JobResult, recordLatency: Bool) throws {
        let result = jobResult.result
        if recordLatency {
            _ = statistics.latency.record(max(1, (jobResult.nanoseconds + 500) / 1000))
        }
        guard result.outcome != .failed else {
            throw SampleError(
                "command \(result.messageID) to \(jobResult.streamID) failed on node \(result.node): "
                    + "\(result.reason ?? "no reason")")
        }
        statistics.eventsWritten += result.eventCount
        let accepted = result.outcome == .accepted
        let balance = accepted ? try result.decodeState(as: Account.self).balance : 0
        switch jobResult.job {
        case .open(let account):
            if accepted {
                statistics.opened += 1
                ledger.record(balance, account: account)
            } else {
                statistics.alreadyOpen += 1
            }
        case .deposit(let account, let amount):
            if accepted {
                statistics.deposits += 1
                statistics.depositSum += amount
                ledger.record(balance, account: account)
            } else {
                statistics.rejected += 1
                statistics.rejectedSum += amount
            }
        case .withdraw(let account, let amount):
            if accepted {
                statistics.withdrawals += 1
                statistics.withdrawSum += amount
                ledger.record(balance, account: account)
            } else {
                statistics.rejected += 1
                statistics.rejectedSum += amount
            }
        }
        if let ackLog, accepted {
            try ackLog.acknowledge([(result.messageID, jobResult.streamID)])
        }
    }
}
