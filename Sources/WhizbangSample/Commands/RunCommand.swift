import ArgumentParser
import Foundation
import WhizbangPostgres
import WhizbangStore

/// Runs the ledger workload against a fresh (or kept) database, then replays and verifies the log.
struct RunCommand: AsyncParsableCommand, StoreCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the bank-ledger workload, then replay and verify the log (the default).")

    @OptionGroup var database: DatabaseOption
    @Option(help: "Accounts A.") var accounts = 10_000
    @Option(help: "Commands C in the operate phase.") var commands = 100_000
    @Option(help: "Initial deposit D of each account.") var initialDeposit = 1_000
    @Option(help: "Seed S of the MT19937 generator (CPython-compatible).") var seed: UInt64 = 42
    @Option(help: "Commands in flight.") var concurrency = 256
    @Option(help: "SQLite only. full: fsync every group commit; normal: WAL write only.")
    var durability = DurabilityOption.full
    @Option(help: "SQLite only. Keep this read model in the store, inline (balances: the balance of each account).")
    var readModel: ReadModelOption?
    @Flag(
        help: ArgumentHelp(
            "Keep the database (append to it) instead of starting fresh; transfers a stopped run left half done are "
                + "finished first."))
    var keep = false
    @Flag(help: "Also move money between accounts through the transfer saga.") var transfers = false
    @Option(
        help: ArgumentHelp(
            "Append '<message id> <stream>' for each command once its events are durable, to a new or empty file "
                + "(its first line then names this ledger), or with --keep to the ack log of the ledger it adds to."))
    var ackLog: String?
    @Flag(help: "Print one JSON object on the last line.") var json = false
    @Option(help: "Write the run's charts to this HTML file, which must not exist (it is never replaced).")
    var report: String?
    @Flag(help: "Show no progress.") var quiet = false
    @Flag(
        help: """
            PostgreSQL only: send every command through the cluster's inbox to the running nodes (see 'node'). A \
            command whose result has not come within 120 seconds (no node running, say) stops the run; it stays in \
            the inbox and runs once a node takes it.
            """)
    var cluster = false
    @OptionGroup(title: "Cluster (with --cluster)") var clusterOptions: ClusterOptions

    /// The most commands a run accepts: far more than a run can do in a day, and few enough that every count and sum
    /// of the run fits in 64 bits.
    static let maximumCommands = 1_000_000_000_000

    /// The largest initial deposit for `accounts` accounts and `commands` commands: the ledger's total, at most
    /// every account's deposit plus 100 per command, must fit in 64 bits with room to spare.
    static func maximumInitialDeposit(accounts: Int, commands: Int) -> Int {
        (Int.max / 2 - commands * 100) / max(1, accounts)
    }

    func validate() throws {
        try PathArgument.check(ackLog, option: "--ack-log", naming: "the path of the file to log acknowledgements to")
        try PathArgument.check(report, option: "--report", naming: "the path of a new HTML file")
        let maximumAccounts = Int(UInt32.max) / 2
        guard accounts >= 1, accounts <= maximumAccounts else {
            throw ValidationError("--accounts must be from 1 to \(maximumAccounts); it is \(accounts)")
        }
        guard commands >= 0, commands <= Self.maximumCommands else {
            throw ValidationError("--commands must be from 0 to \(Self.maximumCommands); it is \(commands)")
        }
        let maximumDeposit = Self.maximumInitialDeposit(accounts: accounts, commands: commands)
        guard initialDeposit >= 0, initialDeposit <= maximumDeposit else {
            throw ValidationError(
                "--initial-deposit must be from 0 to \(maximumDeposit) for \(accounts) accounts and \(commands) "
                    + "commands (the ledger's total must fit in 64 bits); it is \(initialDeposit)")
        }
        guard concurrency >= 1, concurrency <= 65_536 else {
            throw ValidationError("--concurrency must be from 1 to 65536; it is \(concurrency)")
        }
    }

    func run() async throws {
        // From here on SIGINT, SIGTERM, SIGHUP and SIGPIPE stop the run between steps, never inside the ledger's
        // creation.
        _ = StopSignal.forRun
        let target = try database.target()
        // Before anything is opened: the cluster's stores are PostgreSQL's, and opening an SQLite file to find that
        // out would create or migrate it.
        if cluster, case .sqlite = target {
            throw SampleError.refusal(
                "--cluster needs a PostgreSQL --database (postgres://...); the SQLite file was not opened")
        }
        if cluster, case .postgres(let configuration) = target {
            try await ClusterOptions.checkClusterSchema(configuration)
        }
        if let report {
            try DatabaseFiles.refuse(report, as: "--report", database: target)
            try ReportFile.checkAbsent(report)
        }
        // Before the database is touched: a fresh run replaces the ledger first.
        var ackLogFound = AckLog.Found.absent
        if let ackLog {
            try DatabaseFiles.refuse(ackLog, as: "--ack-log", database: target)
            // A kept ledger that does not exist yet starts as new as a fresh one: earlier acknowledgements would not
            // match it either.
            let start: AckLog.LedgerStart
            if !keep && !cluster {
                start = .fresh
            } else if try await Self.holdsLedger(target) {
                start = .kept
            } else {
                start = .missing(option: keep ? "--keep" : "--cluster", database: target.name)
            }
            ackLogFound = try AckLog.check(path: ackLog, start: start)
            // The kept ledger must be the one the ack log names. An SQLite file is read here, without opening it for
            // writing (which would change it); a PostgreSQL ledger once the run's store is open, before the run
            // writes anything (`AckLog.refuseOtherLedger`), as is an SQLite one again, in case another run replaced it
            // meanwhile.
            if case .file(_, let named?) = ackLogFound, case .sqlite(let path) = target,
                let identity = LedgerIdentity.read(sqliteAt: path), identity != named
            {
                throw AckLog.otherLedger(ackLog, names: named, database: path, holds: identity, by: .run)
            }
        }
        // Each passes its check alone: a report must not exist, an ack log may be made. One file for both would be
        // made by the ack log and then refused to the report, after the whole run.
        if let report, let ackLog, ResolvedPath.sameFile(report, ackLog) {
            throw SampleError.refusal(
                "--report \(report) and --ack-log \(ackLog) name the same file; the run appends acknowledgements to the "
                    + "ack log and writes its report as a new file: give them different paths")
        }
        // A kept SQLite ledger is checked read-only first: opening it for writing migrates it and registers
        // `--read-model`, which a refusal must not leave behind. (A read-only PostgreSQL store reads only the
        // current schema version, so an older kept schema is still migrated before its check.)
        if keep, case .sqlite(let path) = target, try await Self.holdsLedger(target) {
            // The particular refusal (another name's WAL holds commits) before the general one (other names).
            try SampleDatabase.refuseOtherNameWithWAL(path)
            try LedgerStore.refuseToAdd(to: path, SQLiteEventStore.inspectFile(at: path))
            _ = try await target.with(.existing, RoomCheck(run: self))
        }
        // Opened (or made) before the database is touched: a path that passed the check and still cannot be opened
        // is refused while the ledger is as it was, not after a fresh run has replaced it. A file this run made is
        // removed again if the run fails before it acknowledges a command.
        let openedAckLog = try ackLog.map { try AckLog(path: $0, found: ackLogFound) }
        func runOnLedger() async throws {
            try await AckLog.$opened.withValue(openedAckLog) {
                try await LedgerStore.$readModels.withValue(readModel.map { [$0.projection] } ?? []) {
                    try await target.with(
                        .create(fresh: !keep && !cluster, durability: durability.storeDurability), self)
                }
            }
        }
        do {
            do {
                try await runOnLedger()
            } catch let appeared as LedgerAppeared {
                // Another run made the ledger while this one made its own, which replaced nothing: --keep adds to
                // that ledger, checked read-only first as a kept ledger found at the start is.
                do {
                    _ = try await target.with(.existing, RoomCheck(run: self))
                    try await runOnLedger()
                } catch is LedgerAppeared {
                    throw appeared.refusal
                }
            }
        } catch {
            openedAckLog?.removeIfUnused()
            throw error
        }
    }

    /// Refuses, on a read-only store, a kept ledger that fails verification or leaves this run no room
    /// (``verifiedBaseline(of:)``).
    private struct RoomCheck: StoreCommand {
        var run: RunCommand

        func run<Store: EventStore>(on store: Store, database: OpenedDatabase) async throws {
            _ = try await run.verifiedBaseline(of: store)
        }
    }

    /// Whether `database` holds a store already (which `--keep` adds to), looked at without opening it.
    private static func holdsLedger(_ database: SampleDatabase) async throws -> Bool {
        switch database {
        case .sqlite(let path):
            return SQLiteEventStore.inspectFile(at: path).exists
        case .postgres(let configuration):
            return try await PostgresProblem.mapping(configuration) {
                try await PostgresEventStore.inspectSchema(configuration: configuration).holdsStore
            }
        }
    }

    func run<Store: EventStore>(on store: Store, database opened: OpenedDatabase) async throws {
        // Before the run writes anything: it adds acknowledgements only to an ack log of the ledger it writes.
        try await AckLog.opened?.refuseOtherLedger(in: store, database: opened.name)
        if cluster { return try await runThroughCluster(on: store, database: opened) }
        let workload = LedgerWorkload(
            accounts: accounts, commands: commands, initialDeposit: initialDeposit, seed: seed, transfers: transfers)
        let progress = ProgressLine(isEnabled: !quiet)

        // A kept database: start from the balances its log holds, once the transfers a stopped run left half done
        // are finished.
        var baseline = try await verifiedBaseline(of: store)
        if let store = store as? PostgresEventStore, transfers || baseline.unfinishedTransfers > 0 {
            try await LocalTransfersCheck.refuseLocalTransfers(on: store)
        }
        try await AckLog.opened?.identifyLedger(in: store)
        if baseline.unfinishedTransfers > 0, StopSignal.forRun.received == nil {
            let finished = try await Self.finishTransfers(of: baseline, on: store)
            StandardError.write("finished \(finished) transfers that a stopped run had left half done\n")
            baseline = try await verifiedBaseline(of: store)
        }
        let stop = StopSignal.forRun
        let (statistics, kept) = try await operate(
            on: store, workload: workload, baseline: baseline, stop: stop, progress: progress)
        // The dispatcher, its aggregate cache and the run's other state are gone: give their memory back before the
        // replay and the checks build theirs.
        FreeMemory.returnToSystem()
        try await finish(
            on: store, database: opened, stop: stop, workload: workload, baseline: baseline,
            statistics: statistics, kept: kept, progress: progress)
    }

    /// The projection of the whole log; throws if it fails verification, and refuses (exit 2) a kept ledger whose
    /// total leaves this run no room: the total after the run, at most the kept one plus every account's deposit
    /// and 100 per command, must stay within the bound that ``validate()`` keeps a fresh run in (half of 64 bits).
    /// So a run on a kept ledger never writes a sum it cannot add up.
    func verifiedBaseline(of store: some EventStore) async throws -> LedgerProjection {
        let baseline = try await LedgerReplay().run(store).projection
        guard baseline.violationCount == 0 else {
            throw SampleError("the kept database fails verification: \(baseline.violations.first ?? "")")
        }
        // validate() keeps this at 0 or more.
        let room = Int.max / 2 - commands * 100 - accounts * initialDeposit
        guard baseline.total <= room else {
            throw SampleError.refusal(
                "the kept ledger's total \(Formatting.grouped(baseline.total)) leaves no room for this run: with "
                    + "\(accounts) accounts, an initial deposit of \(initialDeposit) and \(commands) commands, its "
                    + "total could pass \(Formatting.grouped(Int.max / 2)); the ledger is as it was (give a smaller "
                    + "--initial-deposit or fewer --commands)")
        }
        return baseline
    }

    /// Finishes, through a dispatcher of its own, every transfer the log shows requested or debited but neither
    /// completed, failed nor compensated (a run stopped by SIGKILL, a full disk, a crash): each from its last
    /// recorded step, taking no account step the accounts' logs already hold. Returns how many it finished.
    ///
    /// A run expects to be its ledger's only writer (its checks compare every balance with the ones it kept): a
    /// transfer that another run, or a cluster's process manager, is still moving would be taken a second time.
    private static func finishTransfers<Store: EventStore>(of baseline: LedgerProjection, on store: Store)
        async throws -> Int
    {
        let dispatcher = Dispatcher(store: store)
        let saga = TransferSaga<Store>(
            accounts: dispatcher.aggregate(Account.self), transfers: dispatcher.aggregate(Transfer.self))
        var finished = 0
        do {
            for (name, tally) in baseline.transfers.sorted(by: { $0.key < $1.key })
            where tally.stage == .requested || tally.stage == .debited {
                let steps = TransferSaga<Store>.AccountSteps(
                    debited: tally.debited > 0, credited: tally.credited > 0, refunded: tally.refunded > 0)
                if try await saga.resume(StreamID(name), steps: steps) != nil { finished += 1 }
            }
        } catch {
            await dispatcher.shutdown()
            throw error
        }
        await dispatcher.shutdown()
        return finished
    }

    /// Runs the open and operate phases through a dispatcher of its own, which is shut down and released on return;
    /// returns what the run counted and the balances it kept.
    private func operate<Store: EventStore>(
        on store: Store, workload: LedgerWorkload, baseline: LedgerProjection, stop: StopSignal,
        progress: ProgressLine
    ) async throws -> (RunStatistics, LedgerBalances) {
        let ackLog = AckLog.opened
        let dispatcher = Dispatcher(store: store)
        var cache = RepositoryConfiguration()
        cache.cacheCapacity = max(cache.cacheCapacity, accounts + accounts / 100 + 1)
        var run = WorkloadRun(
            workload: workload, concurrency: concurrency, accounts: dispatcher.aggregate(Account.self, configuration: cache),
            transfers: dispatcher.aggregate(Transfer.self), ackLog: ackLog, progress: progress,
            baseline: baseline.balances, transferPrefix: "transfer-\(baseline.lastPosition)-")
        run.stopRequested = { stop.received != nil }
        run.recordsTimeline = report != nil
        do {
            try await run.open()
            try await run.operate()
        } catch {
            await dispatcher.shutdown()
            throw error
        }
        await dispatcher.shutdown()
        return (run.statistics, run.ledger)
    }
}
