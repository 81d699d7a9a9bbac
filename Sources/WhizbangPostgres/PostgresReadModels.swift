import Foundation
import Logging
import PostgresNIO
import Synchronization
import Whizbang

/// The read models of a ``PostgresEventStore``: their state rows, the inline fold in the append's transaction, the
/// follower that backfills, rebuilds and follows them, and the queries.
///
/// ## Tables
///
/// `read_models` holds one row per read model: the generation whose rows are served (`NULL` until the first backfill
/// reaches the head), its version and, for a read model that is behind, the position applied; the
/// generation being built (a backfill or a rebuild), its version and position; the state of the rows served
/// (`backfilling`, `live`, or `failed` when the projection threw on them); and the words of the projection's failure,
/// on the rows served or on the build. `read_model_rows` holds the rows of every generation, keyed by
/// `(model, generation, key)`.
///
/// ## Order with appends
///
/// Everything that moves a read model forward runs in a transaction that holds the store's append lock (the
/// transaction-level advisory lock the append function takes): the inline fold runs in the append's own
/// transaction, after the append function; a backfill, rebuild or async batch takes the lock first. So these
/// transactions run one after another, across every process, and a batch that reads the head under the lock knows it
/// exactly: when it applies the last event it swaps the new generation in (or marks the read model live) in the same
/// transaction, and the next append folds into it. The state row is read `FOR UPDATE` under the lock, so when several
/// processes register one read model, each batch is applied by one of them.
///
/// ## A build beside the rows served
///
/// While a generation is built (a rebuild, or a new version), the one served goes on in the processes that run its
/// version: the inline fold folds into it, and the follower, which applies the batches of both, alternates between
/// them when both are due, so that the rows served keep following the log and the build still moves while appends
/// keep coming. A build whose projection throws stops there, with its failure recorded and reported, and the state
/// left as it was: the rows served are still served and kept up. Only a failure on the rows served stops them.
final class PostgresReadModels: Sendable {
    /// The state row of a read model.
    struct State: Sendable {
        var name: String
        var state: String
        var servedGeneration: Int64?
        var servedVersion: Int32?
        var servedPosition: Int64
        var buildingGeneration: Int64?
        var buildingVersion: Int32?
        var buildingPosition: Int64
        var nextGeneration: Int64
        var failure: String?

        static let columns = """
            name, state, served_generation, served_version, served_position, building_generation, building_version,
            building_position, next_generation, failure
            """

        init(_ row: PostgresRow) throws {
            (
                name, state, servedGeneration, servedVersion, servedPosition, buildingGeneration, buildingVersion,
                buildingPosition, nextGeneration, failure
            ) = try row.decode(
                (String, String, Int64?, Int32?, Int64, Int64?, Int32?, Int64, Int64, String?).self)
        }

        /// The state from a row of ``columns`` followed by the head of the log.
        static func withHead(_ row: PostgresRow) throws -> (State, UInt64) {
            let values = try row.decode(
                (String, String, Int64?, Int32?, Int64, Int64?, Int32?, Int64, Int64, String?, Int64).self)
            var state = State(name: values.0, state: values.1)
            (
                state.servedGeneration, state.servedVersion, state.servedPosition, state.buildingGeneration,
                state.buildingVersion, state.buildingPosition, state.nextGeneration, state.failure
            ) = (values.2, values.3, values.4, values.5, values.6, values.7, values.8, values.9)
            return (state, try RecordedEventColumns.stored(values.10, "log's head"))
        }

        private init(name: String, state: String) {
            self.name = name
            self.state = state
            servedPosition = 0
            buildingPosition = 0
            nextGeneration = 1
        }

        /// Starts building a fresh generation of `version` from position 0.
        mutating func startBuilding(version: Int) {
            buildingGeneration = nextGeneration
            buildingVersion = Int32(clamping: version)
            buildingPosition = 0
            nextGeneration += 1
        }

        /// Whether the generation served is of `version` and trails `head`: a batch of that version's code is due.
        func servesBehind(_ version: Int32, head: Int64) -> Bool {
            servedGeneration != nil && servedVersion == version && servedPosition < head
        }

        /// Whether a generation of `version` is being built and has not failed, so that a batch of that version's code
        /// is due.
        func builds(_ version: Int32) -> Bool {
            buildingGeneration != nil && buildingVersion == version && failure == nil
        }

        /// Whether the projection threw on the generation being built; the rows served go on.
        var buildFailed: Bool { failure != nil && state != "failed" }

        /// `backfilling` or `live`, after a failure is cleared.
        var unfailedState: String { servedGeneration == nil ? "backfilling" : "live" }
    }

    /// The appends of a batch that an inline projection refused: the index of each and the projection's words.
    struct Refusal: Error {
        var failures: [Int: String]
    }

    let definitions: [ReadModelDefinition]
    private let byName: [String: ReadModelDefinition]
    private let inline: [ReadModelDefinition]
    private let hasAsync: Bool
    let batchSize: Int
    let pollInterval: Duration
    private let lockKey: String
    private let logger: Logger
    /// Advanced after each commit that changes a read model, to wake
    /// ``PostgresEventStore/waitForReadModel(named:toReach:timeout:)``.
    let progress = AppendSignal()
    private let changes = Atomic<UInt64>(0)
    /// Advanced to wake the follower: a rebuild was asked for.
    let kicks = AppendSignal()
    private let kickCount = Atomic<UInt64>(0)

    init(definitions: [ReadModelDefinition], configuration: PostgresEventStore.Configuration) {
        self.definitions = definitions
        self.byName = Dictionary(uniqueKeysWithValues: definitions.map { ($0.name, $0) })
        self.inline = definitions.filter { $0.mode == .inline }
        self.hasAsync = definitions.contains { $0.mode == .async }
        self.batchSize = configuration.readModelBatchSize
        self.pollInterval = configuration.readModelPollInterval
        self.lockKey = configuration.schema
        self.logger = configuration.logger
    }

    var isEmpty: Bool { definitions.isEmpty }
    var hasInline: Bool { !inline.isEmpty }

    func definition(named name: String) throws(ReadModelError) -> ReadModelDefinition {
        guard let definition = byName[name] else {
            throw ReadModelError(
                .unknownReadModel, readModel: name,
                message: "no read model named '\(name)' is registered with the store")
        }
        return definition
    }

    func noteChange() { progress.advance(to: changes.add(1, ordering: .relaxed).newValue) }
    func kick() { kicks.advance(to: kickCount.add(1, ordering: .relaxed).newValue) }

    // MARK: Registration

    /// Records each registered read model: a new one starts its first backfill, one whose version changed starts a
    /// rebuild, a failed one is retried. One transaction, under the append lock; when this throws, the caller
    /// closes the connection, which rolls it back.
    func register(on connection: PostgresConnection) async throws {
        guard !definitions.isEmpty else { return }
        let logger = self.logger
        try await PostgresSchema.transaction(on: connection, logger: logger) {
            try await self.lock(connection)
            let head = try await self.head(on: connection)
            for definition in self.definitions {
                let version = Int32(clamping: definition.version)
                guard var state = try await self.state(of: definition.name, on: connection, forUpdate: true) else {
                    // On an empty log there is nothing to backfill: the first generation is served at once.
                    if head == 0 {
                        try await connection.run(
                            """
                            INSERT INTO read_models (name, state, served_generation, served_version, next_generation)
                            VALUES (\(definition.name), 'live', 1, \(version), 2)
                            """, logger: logger)
                    } else {
                        try await connection.run(
                            """
                            INSERT INTO read_models (name, state, building_generation, building_version, next_generation)
                            VALUES (\(definition.name), 'backfilling', 1, \(version), 2)
                            """, logger: logger)
                    }
                    continue
                }
                if state.state == "failed" || state.buildFailed {
                    state.state = state.unfailedState
                    state.failure = nil
                }
                // A process with older code than the one that built or builds the rows (a rolling upgrade) leaves
                // them to the newer processes: it neither restarts their build nor builds its own version. The
                // largest version is what an earlier release stored for any larger one: obsolete, it does not count.
                let newest = [state.servedVersion, state.buildingVersion].compactMap { $0 }
                    .filter { $0 != Int32.max }.max() ?? Int32.min
                if version < newest {
                    // Nothing to start.
                } else if state.buildingGeneration != nil {
                    if state.buildingVersion != version { state.startBuilding(version: definition.version) }
                } else if state.servedVersion != version {
                    state.startBuilding(version: definition.version)
                }
                try await self.write(state, on: connection)
            }
        }
    }

    // MARK: Inline

    /// Folds the events of one append batch into the served generation of every inline read model, in the batch's
    /// transaction (which holds the append lock): one query for the state rows, one for the rows the batch's keys
    /// name, one upsert and one delete.
    ///
    /// - Parameters:
    ///   - events: given the transaction's timestamp, the events each append of the batch inserted, in order (empty
    ///     for appends that failed or inserted nothing).
    /// - Throws: ``Refusal`` naming the appends whose events a projection refused (the caller rolls back and goes on
    ///   without them), or the connection's error.
    func applyInline(on connection: PostgresConnection, events: (Date) -> [[RecordedEvent]]) async throws {
        guard !inline.isEmpty else { return }
        let names = inline.map(\.name)
        var candidates: [(definition: ReadModelDefinition, generation: Int64, position: Int64)] = []
        var now: Date?
        for row in try await connection.rows(
            """
            SELECT name, served_generation, served_version, served_position, now()
            FROM read_models WHERE name = ANY(\(names)::text[]) AND state <> 'failed'
            """, logger: logger
        ) {
            let (name, generation, version, position, timestamp) = try row.decode(
                (String, Int64?, Int32?, Int64, Date).self)
            now = timestamp
            guard let definition = byName[name], let generation, version == Int32(clamping: definition.version) else {
                continue
            }
            candidates.append((definition, generation, position))
        }
        guard let now, !candidates.isEmpty else { return }
        let appends = events(now)
        guard let first = appends.lazy.compactMap(\.first).map(\.position).min(),
            let last = appends.lazy.compactMap(\.last).map(\.position).max()
        else { return }
        // The rows served must be exactly as far as the log before this batch (the batch holds the append lock, so
        // nothing else moves either); a read model that is behind (appends were made without it) is left to the
        // follower, which catches it up under the same lock.
        let targets = candidates.filter { $0.position == Int64(clamping: first) - 1 }.map {
            (definition: $0.definition, generation: $0.generation)
        }
        // Wake the follower for those behind; its batch waits for this transaction's lock and then catches them up.
        if targets.count < candidates.count { kick() }
        guard !targets.isEmpty else { return }

        var failures: [Int: String] = [:]
        var keysByTarget: [[[String]]] = []
        for target in targets {
            var keys: [[String]] = []
            for (index, append) in appends.enumerated() {
                do {
                    keys.append(try target.definition.keys(of: append))
                } catch {
                    keys.append([])
                    failures[index] = failures[index] ?? "read model '\(target.definition.name)': \(error)"
                }
            }
            keysByTarget.append(keys)
        }
        var lookup = RowKeys()
        for (target, keys) in zip(targets, keysByTarget) {
            // Told apart by their bytes, as the table keeps them: a `Set<String>` would merge two spellings of "café".
            var added = Set<UTF8Key>()
            for key in keys.joined() where added.insert(UTF8Key(key)).inserted {
                lookup.add(target.definition.name, target.generation, key)
            }
        }
        let loaded = try await load(lookup, on: connection)

        var writes = RowWrites()
        for (target, keys) in zip(targets, keysByTarget) {
            let name = target.definition.name
            var current: [UTF8Key: ReadModelRow] = [:]
            for key in keys.joined() { current[UTF8Key(key)] = loaded[RowKey(model: name, key: UTF8Key(key))] }
            var touched: [String] = []
            var seen = Set<UTF8Key>()
            for (index, append) in appends.enumerated() where !append.isEmpty && failures[index] == nil {
                do {
                    for change in try target.definition.fold(append, into: current) {
                        current[UTF8Key(change.key)] = change.row
                        if seen.insert(UTF8Key(change.key)).inserted { touched.append(change.key) }
                    }
                } catch {
                    failures[index] = "read model '\(name)': \(error)"
                }
            }
            guard failures.isEmpty else { continue }
            for key in touched { writes.add(name, target.generation, key: key, row: current[UTF8Key(key)]) }
        }
        if !failures.isEmpty { throw Refusal(failures: failures) }
        try await write(writes, on: connection)
        let advanced = targets.map(\.definition.name)
        try await connection.run(
            "UPDATE read_models SET served_position = \(Int64(clamping: last)) WHERE name = ANY(\(advanced)::text[])",
            logger: logger)
    }

    // MARK: Follower

    /// Backfills, rebuilds and follows the read models until cancelled or the store closes: after each commit of this
    /// store (when an async read model is registered), after a rebuild is asked for, and every ``pollInterval``.
    ///
    /// A database error ends only the step it happened in: the other read models go on, and the failed one is tried
    /// again at the next pass. An event row the store refuses as `corruptDatabase` is not tried again: it fails the
    /// generation the step was for, as the projection's own error does (see ``step(_:servedFirst:on:)``).
    func follow(_ store: PostgresEventStore) async {
        var needsCleanup = Set(definitions.map(\.name))
        // Read models whose next step puts the build before the rows served. It flips at every step, so that when
        // both have batches due they take turns, whichever of them keeps failing.
        var buildFirst = Set<String>()
        // Read models whose step failed: tried again after the next wait, not at once while the others go on.
        var failedUntilWait = Set<String>()
        while !Task.isCancelled && !store.lifecycle.isClosed {
            let seenHead = store.signal.head
            let seenKicks = kicks.head
            var more = false
            var states: [String: State] = [:]
            // The head as the database has it, not only as this store has heard: a kick comes from inside an
            // append's transaction (a read model was left behind by another process's append), before that append
            // commits and before this store hears of the other one; judged by the store's head, the read model looked
            // current, and with no async read model nothing woke the follower again until the poll interval.
            var head = Int64(clamping: seenHead)
            do {
                (states, head) = try await store.runner.withConnection { connection in
                    (try await self.states(on: connection), try await self.head(on: connection))
                }
            } catch {
                if Task.isCancelled || store.lifecycle.isClosed { return }
                logFollowerFailure(error, readModel: nil, store: store)
            }
            for definition in definitions where !failedUntilWait.contains(definition.name) {
                guard let state = states[definition.name] else { continue }
                do {
                    if state.state != "failed"
                        && ((state.buildingGeneration != nil && !state.buildFailed)
                            || (state.servedGeneration != nil
                                && state.servedPosition < max(head, Int64(clamping: store.signal.head))))
                    {
                        let servedFirst = buildFirst.remove(definition.name) == nil
                        if servedFirst { buildFirst.insert(definition.name) }
                        let outcome = try await store.runner.withConnection { connection in
                            try await self.step(definition, servedFirst: servedFirst, on: connection)
                        }
                        if outcome.changed { noteChange() }
                        if outcome.swapped { needsCleanup.insert(definition.name) }
                        more = more || outcome.more
                    }
                    if needsCleanup.contains(definition.name) {
                        let deleted = try await store.runner.withConnection { connection in
                            try await self.cleanUp(definition.name, on: connection)
                        }
                        if deleted < batchSize { needsCleanup.remove(definition.name) } else { more = true }
                    }
                } catch {
                    if Task.isCancelled || store.lifecycle.isClosed { return }
                    logFollowerFailure(error, readModel: definition.name, store: store)
                    failedUntilWait.insert(definition.name)
                }
            }
            if more { continue }
            failedUntilWait.removeAll()
            // Appends of other processes through the store's wait, which wakes only for positions the log reaches.
            let kicks = self.kicks
            var waits: [@Sendable () async throws -> Void] = [{ try await kicks.wait(after: seenKicks) }]
            if hasAsync { waits.append({ try await store.waitForEvents(after: seenHead) }) }
            await Self.waitForAny(waits, upTo: pollInterval)
        }
    }

    /// Logs a follower step that failed and will be tried again: at debug level while the database is unavailable
    /// (the store reports that itself), as a warning otherwise, since an error that repeats keeps the read model
    /// where it is.
    private func logFollowerFailure(_ error: any Error, readModel: String?, store: PostgresEventStore) {
        let failure = store.runner.failure(error, closed: false)
        var metadata: Logger.Metadata = ["error": "\(failure)"]
        if let readModel { metadata["readModel"] = "\(readModel)" }
        if failure.code == .unavailable {
            logger.debug("read model follower failed; trying again", metadata: metadata)
        } else {
            logger.warning("read model follower failed; trying again", metadata: metadata)
        }
    }

    /// What one follower batch did.
    struct StepOutcome {
        var changed = false
        var swapped = false
        var more = false
    }

    /// Applies the next batch of events to one generation of `definition`, in one transaction under the append lock:
    /// to the one being built, or to the one served when it trails the head of the log (an async read model follows
    /// the log; an inline one catches up with appends made without it). Swaps the built generation in, or marks the
    /// read model live, when the batch reaches the head.
    ///
    /// - Parameter servedFirst: which of the two goes when both have batches due. The follower alternates, so that
    ///   during a build the rows served keep following the log (their queries depend on it, and so does the inline
    ///   fold, which folds only into rows exactly as far as the log) and the build still moves while appends keep
    ///   coming.
    func step(_ definition: ReadModelDefinition, servedFirst: Bool, on connection: PostgresConnection) async throws
        -> StepOutcome
    {
        let logger = self.logger
        return try await connection.withStoreTransaction(logger: logger) {
            try await self.lock(connection)
            guard var state = try await self.state(of: definition.name, on: connection, forUpdate: true),
                state.state != "failed"
            else { return StepOutcome() }
            let head = try await self.head(on: connection)
            let generation: Int64
            let from: Int64
            let building: Bool
            // Only rows of this process's own version are folded with its code: another version's generation (a
            // process with older or newer code on the same schema) is left to the processes that run that version.
            let version = Int32(clamping: definition.version)
            if let served = state.servedGeneration, state.servesBehind(version, head: head),
                servedFirst || !state.builds(version)
            {
                (generation, from, building) = (served, state.servedPosition, false)
            } else if let buildingGeneration = state.buildingGeneration, state.builds(version) {
                (generation, from, building) = (buildingGeneration, state.buildingPosition, true)
            } else {
                return StepOutcome()
            }
            // Only what the projection throws, or a row no store writes, fails the generation; the database's other
            // errors end this transaction and the follower tries again. When a build fails, the rows served may still
            // have batches to follow.
            let failed = StepOutcome(changed: true, more: building && state.servesBehind(version, head: head))
            // A position no store writes: read "after" it, the whole log would be folded into the rows again.
            guard from >= 0 else {
                let error = EventStoreError(
                    .corruptDatabase,
                    message: "the \(building ? "building" : "served") position of read model '\(definition.name)' is "
                        + "\(from); the store writes positions from 0 on")
                try await self.fail(&state, building: building, with: error, on: connection)
                return failed
            }
            let events: [RecordedEvent]
            do {
                events = try await connection.rows(
                    of: PostgresStatements.ReadAll(after: from, limit: Int64(self.batchSize)), logger: logger)
            } catch let error as EventStoreError where error.code == .corruptDatabase {
                // A row the decoder refuses (RecordedEventColumns): the next try would meet it again, for ever,
                // while the status went on saying all was well. The transaction is still usable: the server
                // returned the row, only its values are refused.
                try await self.fail(&state, building: building, with: error, on: connection)
                return failed
            }
            let keys: [String]
            do {
                keys = try definition.keys(of: events)
            } catch {
                try await self.fail(&state, building: building, with: error, on: connection)
                return failed
            }
            var lookup = RowKeys()
            for key in keys { lookup.add(definition.name, generation, key) }
            let loaded: [RowKey: ReadModelRow]
            do {
                loaded = try await self.load(lookup, on: connection)
            } catch let error as EventStoreError where error.code == .corruptDatabase {
                // A row with a position no store writes (`rowPosition`): met again at every try.
                try await self.fail(&state, building: building, with: error, on: connection)
                return failed
            }
            var current: [UTF8Key: ReadModelRow] = [:]
            for key in keys { current[UTF8Key(key)] = loaded[RowKey(model: definition.name, key: UTF8Key(key))] }
            let changes: [ReadModelDefinition.Change]
            do {
                changes = try definition.fold(events, into: current)
            } catch {
                try await self.fail(&state, building: building, with: error, on: connection)
                return failed
            }
            var writes = RowWrites()
            for change in changes { writes.add(definition.name, generation, key: change.key, row: change.row) }
            try await self.write(writes, on: connection)
            let reached = events.last.map { Int64(clamping: $0.position) } ?? head
            var outcome = StepOutcome(changed: true)
            if building {
                state.buildingPosition = reached
                if reached >= head {
                    state.servedGeneration = generation
                    state.servedVersion = state.buildingVersion
                    state.servedPosition = reached
                    state.buildingGeneration = nil
                    state.buildingVersion = nil
                    state.buildingPosition = 0
                    state.state = "live"
                    outcome.swapped = true
                }
            } else {
                state.servedPosition = reached
            }
            outcome.more = state.servesBehind(version, head: head) || state.builds(version)
            try await self.write(state, on: connection)
            return outcome
        }
    }

    /// Records that the projection threw, on the generation being built or on the one served: that generation stops
    /// where it is until the read model is registered again (or rebuilt). A failed build leaves the state as it was,
    /// so that the rows served are still served and kept up (in a rolling upgrade, by the processes of the older
    /// version, whose rows owe nothing to the newer version's fold).
    private func fail(
        _ state: inout State, building: Bool, with error: any Error, on connection: PostgresConnection
    ) async throws {
        if !building { state.state = "failed" }
        // PostgreSQL text holds no NUL character, and a projection's own error may have one in its words.
        let failure = (error as? ReadModelError)?.message ?? "\(error)"
        state.failure = String(String.UnicodeScalarView(failure.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 }))
        try await write(state, on: connection)
    }

    /// Deletes up to ``batchSize`` rows of `name`'s generations that are neither served nor being built; returns how
    /// many it deleted.
    func cleanUp(_ name: String, on connection: PostgresConnection) async throws -> Int {
        let logger = self.logger
        let limit = Int64(batchSize)
        return try await connection.withStoreTransaction(logger: logger) {
            guard let state = try await self.state(of: name, on: connection, forUpdate: true) else { return 0 }
            let keep = [state.servedGeneration, state.buildingGeneration].compactMap { $0 }
            let rows = try await connection.rows(
                """
                WITH doomed AS (
                    SELECT generation, key FROM read_model_rows
                    WHERE model = \(name) AND generation <> ALL(\(keep)::bigint[]) LIMIT \(limit))
                DELETE FROM read_model_rows r USING doomed d
                WHERE r.model = \(name) AND r.generation = d.generation AND r.key = d.key
                RETURNING 1
                """, logger: logger
            )
            return rows.count
        }
    }

    // MARK: Rows and state

    /// The head of the log.
    private func head(on connection: PostgresConnection) async throws -> Int64 {
        try await connection.rows(
            "SELECT coalesce(max(position), 0)::bigint FROM events", decoding: Int64.self, logger: logger
        ).first ?? 0
    }

    /// Takes the store's append lock until the transaction ends.
    private func lock(_ connection: PostgresConnection) async throws {
        try await connection.run(
            "SELECT pg_advisory_xact_lock(\(PostgresSchema.lockClass), hashtext(\(lockKey)))", logger: logger
        )
    }

    func state(of name: String, on connection: PostgresConnection, forUpdate: Bool) async throws -> State? {
        let suffix = forUpdate ? " FOR UPDATE" : ""
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(State.columns) FROM read_models WHERE name = $1\(suffix)",
            binds: {
                var binds = PostgresBindings(capacity: 1)
                binds.append(name)
                return binds
            }())
        return try await connection.rows(query, logger: logger).first.map(State.init)
    }

    func states(on connection: PostgresConnection) async throws -> [String: State] {
        let names = definitions.map(\.name)
        var states: [String: State] = [:]
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(State.columns) FROM read_models WHERE name = ANY($1::text[])",
            binds: {
                var binds = PostgresBindings(capacity: 1)
                binds.append(names)
                return binds
            }())
        for row in try await connection.rows(query, logger: logger) {
            let state = try State(row)
            states[state.name] = state
        }
        return states
    }

    private func write(_ state: State, on connection: PostgresConnection) async throws {
        try await connection.run(
            """
            UPDATE read_models SET state = \(state.state), served_generation = \(state.servedGeneration),
                served_version = \(state.servedVersion), served_position = \(state.servedPosition),
                building_generation = \(state.buildingGeneration), building_version = \(state.buildingVersion),
                building_position = \(state.buildingPosition), next_generation = \(state.nextGeneration),
                failure = \(state.failure)
            WHERE name = \(state.name)
            """, logger: logger)
    }

    /// The key of a loaded row; keys compare by their bytes, as the table's do.
    struct RowKey: Hashable {
        var model: String
        var key: UTF8Key
    }

    /// The rows to load, as three parallel arrays.
    struct RowKeys {
        var models: [String] = []
        var generations: [Int64] = []
        var keys: [String] = []

        mutating func add(_ model: String, _ generation: Int64, _ key: String) {
            models.append(model)
            generations.append(generation)
            keys.append(key)
        }
    }

    /// Upserts and deletes, as parallel arrays.
    struct RowWrites {
        var models: [String] = []
        var generations: [Int64] = []
        var keys: [String] = []
        var indexValues: [String] = []
        var indexed: [Bool] = []
        var positions: [Int64] = []
        var bodies: [ByteBuffer] = []
        var deleted = RowKeys()

        mutating func add(_ model: String, _ generation: Int64, key: String, row: ReadModelRow?) {
            guard let row else {
                deleted.add(model, generation, key)
                return
            }
            models.append(model)
            generations.append(generation)
            keys.append(key)
            indexValues.append(row.indexValue ?? "")
            indexed.append(row.indexValue != nil)
            positions.append(Int64(clamping: row.position))
            bodies.append(ByteBuffer(bytes: row.body))
        }
    }

    /// The rows under `lookup`'s keys, in one query.
    private func load(_ lookup: RowKeys, on connection: PostgresConnection) async throws -> [RowKey: ReadModelRow] {
        guard !lookup.keys.isEmpty else { return [:] }
        var rows: [RowKey: ReadModelRow] = [:]
        for row in try await connection.rows(
            """
            SELECT r.model, r.key, r.index_value, r.position, r.body
            FROM read_model_rows r
            JOIN unnest(\(lookup.models)::text[], \(lookup.generations)::bigint[], \(lookup.keys)::text[])
                AS k(model, generation, key)
                ON r.model = k.model AND r.generation = k.generation AND r.key = k.key
            """, logger: logger
        ) {
            let (model, key, indexValue, position, body) = try row.decode((String, String, String?, Int64, Data).self)
            rows[RowKey(model: model, key: UTF8Key(key))] = ReadModelRow(
                key: key, indexValue: indexValue, position: try Self.rowPosition(position, key: key, of: model),
                body: body)
        }
        return rows
    }

    /// The position of row `key` of read model `model` as stored, refused as `corruptDatabase` when it is negative
    /// (see `RecordedEventColumns.stored(_:_:position:)`).
    static func rowPosition(_ position: Int64, key: String, of model: String) throws(EventStoreError) -> UInt64 {
        try RecordedEventColumns.stored(position, "position of row '\(key)' of read model '\(model)'")
    }

    /// Writes `writes` in at most two statements: one upsert, one delete.
    private func write(_ writes: RowWrites, on connection: PostgresConnection) async throws {
        if !writes.keys.isEmpty {
            try await connection.run(
                """
                INSERT INTO read_model_rows (model, generation, key, index_value, position, body)
                SELECT model, generation, key, CASE WHEN indexed THEN index_value END, position, body
                FROM unnest(\(writes.models)::text[], \(writes.generations)::bigint[], \(writes.keys)::text[],
                    \(writes.indexValues)::text[], \(writes.indexed)::boolean[], \(writes.positions)::bigint[],
                    \(writes.bodies)::bytea[]) AS w(model, generation, key, index_value, indexed, position, body)
                ON CONFLICT (model, generation, key) DO UPDATE
                SET index_value = excluded.index_value, position = excluded.position, body = excluded.body
                """, logger: logger)
        }
        let deleted = writes.deleted
        if !deleted.keys.isEmpty {
            try await connection.run(
                """
                DELETE FROM read_model_rows r
                USING unnest(\(deleted.models)::text[], \(deleted.generations)::bigint[], \(deleted.keys)::text[])
                    AS k(model, generation, key)
                WHERE r.model = k.model AND r.generation = k.generation AND r.key = k.key
                """, logger: logger)
        }
    }

    // MARK: Waiting

    /// Returns once one of `waits` returns, or after `limit`.
    static func waitForAny(_ waits: [@Sendable () async throws -> Void], upTo limit: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            for wait in waits {
                group.addTask { try? await wait() }
            }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }
}
