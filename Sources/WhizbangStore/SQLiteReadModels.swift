import CWhizbangSQLite
import Foundation
import Whizbang

/// The read models of a ``SQLiteEventStore`` as its writer keeps them: their definitions, their states, and the
/// work that keeps their rows in step with the log.
///
/// Used only on the writer thread (and, before it starts, by the opening store). Inline read models that have
/// caught up ("following") are folded inside each append's savepoint; everything else (a first backfill, a rebuild,
/// an async read model, an inline one that fell behind while it was not registered) is done by batches that the
/// writer runs as transactions of their own between group commits. A batch that reaches the head of the log makes
/// its generation the served one in the same transaction, so no append slips between.
final class SQLiteReadModels {
    struct Model {
        let definition: ReadModelDefinition
        var state: SQLiteReadModelState
        var nextGeneration: Int64

        /// A build of the definition's version from position 0, in the next free generation.
        mutating func newBuild() -> SQLiteReadModelState.Build {
            defer { nextGeneration += 1 }
            return SQLiteReadModelState.Build(generation: nextGeneration, version: definition.version, position: 0)
        }

        /// Whether the generation being built is of the definition's version, so that its code may fold into it.
        /// Another version's build (a store with other code on the same file) is left to the stores that run it.
        var buildsOwnVersion: Bool { state.building?.version == definition.version }
    }

    private(set) var models: [Model]
    /// The head of the log as the writer's transaction sees it.
    private(set) var head: UInt64
    /// Generations whose rows are deleted a batch at a time.
    private var retired: [(model: String, generation: Int64)] = []
    /// Models whose state changed in the current transaction and must be written before it commits.
    private var changed = Set<Int>()
    private let connection: SQLiteConnection
    private var statements: [String: SQLiteStatement] = [:]
    private let batchSize: Int
    private let batchCommitted: (@Sendable (SQLiteReadModelBatch) -> Bool)?
    /// Set when the test hook asked to stop: no more batches.
    private var isStopped = false
    /// The turn the next batch starts looking from; see ``runBatch()``.
    private var nextTurn = 0
    /// Set after a batch failed on a storage error: no more batches until this time, or until something else
    /// commits or asks for a rebuild, whichever comes first.
    private(set) var pausedUntil: Date?
    /// How long batches wait after one failed on a storage error (a lock held by another process past the busy
    /// timeout, a full disk) before they try again: 1 second.
    static let retryAfterFailure: TimeInterval = 1

    /// Registers `definitions` on the writer connection, in one transaction: creates their states, starts the builds
    /// a new read model or a new version needs, resumes builds under way, clears failures (opening again retries),
    /// and lists the generations no state refers to for deletion.
    init(
        _ definitions: [ReadModelDefinition], connection: SQLiteConnection, batchSize: Int,
        batchCommitted: (@Sendable (SQLiteReadModelBatch) -> Bool)?
    ) throws(SQLiteError) {
        self.connection = connection
        self.batchSize = max(1, batchSize)
        self.batchCommitted = batchCommitted
        self.models = []
        self.head = 0
        try connection.execute("BEGIN IMMEDIATE")
        do {
            head = try selectHead()
            for definition in definitions {
                let stored = try loadState(definition.name)
                let largest = try largestGeneration(of: definition.name)
                var model = Model(
                    definition: definition,
                    state: stored ?? SQLiteReadModelState(position: 0),
                    nextGeneration: max(largest, stored?.servedGeneration ?? 0, stored?.building?.generation ?? 0) + 1)
                model.state.failure = nil
                model.state.building?.failure = nil
                let version = definition.version
                if Self.newestVersion(model.state) > version {
                    // A newer version's rows or build (another store on the file, a rolling upgrade) are left to the
                    // stores that run it: this one neither replaces nor drops them, and starts no build of its own.
                } else if model.state.servedGeneration != nil, model.state.servedVersion == version {
                    // Serving its own version: an older version's build left behind is dropped.
                    if let building = model.state.building, building.version != version { model.state.building = nil }
                } else if model.state.building?.version != version {
                    model.state.building = model.newBuild()
                }
                // A build with nothing left to apply (an empty log) is served at once, so that the first append
                // already folds it inline.
                if let building = model.state.building, building.version == version, building.position >= head {
                    model.state.servedGeneration = building.generation
                    model.state.servedVersion = building.version
                    model.state.position = building.position
                    model.state.building = nil
                }
                models.append(model)
                changed.insert(models.count - 1)
            }
            for model in models {
                let kept = [model.state.servedGeneration, model.state.building?.generation].compactMap { $0 }
                for generation in try generations(of: model.definition.name) where !kept.contains(generation) {
                    retired.append((model.definition.name, generation))
                }
            }
            try flush()
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    // MARK: Appends

    /// Whether an inline read model is folded inside appends, so that appends must take the savepoint path.
    var hasFollowingInlineModels: Bool {
        models.contains { isFollowing($0) }
    }

    private func isFollowing(_ model: Model) -> Bool {
        model.definition.mode == .inline && model.state.failure == nil && model.state.position == head
            && Self.servesOwnVersion(model)
    }

    /// Whether the served rows were built by this definition's version, so that its code may fold more events into
    /// them. During a version bump they were not: they stay as they were until the new generation is swapped in.
    private static func servesOwnVersion(_ model: Model) -> Bool {
        model.state.servedGeneration != nil && model.state.servedVersion == model.definition.version
    }

    /// Folds one append's events into every following inline read model, inside the append's savepoint.
    ///
    /// - Returns: the error to fail the append with when a projection throws (the caller rolls the savepoint back),
    ///   or `nil`.
    /// - Throws: `SQLiteError` from the database, which fails the transaction.
    func applyInline(_ events: [RecordedEvent], streamID: StreamID) throws(SQLiteError) -> EventStoreError? {
        guard let last = events.last?.position else { return nil }
        let following = models.indices.filter { isFollowing(models[$0]) }
        for index in following {
            let definition = models[index].definition
            let generation = models[index].state.servedGeneration ?? 0
            if let error = try fold(events, into: definition, generation: generation) {
                return EventStoreError(
                    .inlineProjectionFailed, streamID: streamID,
                    message: "read model '\(definition.name)' failed: \(error)")
            }
        }
        for index in following {
            models[index].state.position = last
            changed.insert(index)
        }
        noteAppended(upTo: last)
        return nil
    }

    /// Notes events appended without ``applyInline(_:streamID:)`` (no inline read model was following).
    func noteAppended(upTo position: UInt64) {
        head = max(head, position)
        pausedUntil = nil
    }

    /// Stops batches for ``retryAfterFailure``, or until the next append or rebuild request, after a batch failed on
    /// a storage error: the next batch would most likely fail the same way at once. A corrupt event row does not
    /// get here: it fails the read model (``failsReadModel(_:)``).
    func pauseAfterFailure() {
        pausedUntil = Date().addingTimeInterval(Self.retryAfterFailure)
    }

    /// Ends a pause whose time has passed.
    func endPause() {
        pausedUntil = nil
    }

    /// The newest version the file serves or builds for a read model; `Int.min` when none. A version outside
    /// `ReadModelProjection.versionRange` (stored before the range was enforced) is obsolete and does not count.
    private static func newestVersion(_ state: SQLiteReadModelState) -> Int {
        let served = state.servedGeneration == nil ? nil : state.servedVersion
        return [served, state.building?.version].compactMap { $0 }
            .filter { ReadModelDefinition.versionRange.contains($0) }.max() ?? Int.min
    }

    /// Starts a new generation of read model `name` at position 0, replacing a build under way; refuses (and
    /// changes nothing) when the file serves or builds a newer version of it, which is left to the stores that run
    /// that version.
    func startRebuild(of name: String) -> ReadModelError? {
        guard let index = models.firstIndex(where: { $0.definition.name == name }) else { return nil }
        let newest = Self.newestVersion(models[index].state)
        let version = models[index].definition.version
        guard newest <= version else {
            return ReadModelError(
                .invalidVersion, readModel: name,
                message: "read model '\(name)' is served or built at version \(newest), newer than this store's "
                    + "\(version): its rebuild is left to the stores that run that version (to go back to an older "
                    + "fold, give it a version above \(newest))")
        }
        if let building = models[index].state.building { retired.append((name, building.generation)) }
        models[index].state.building = models[index].newBuild()
        models[index].state.failure = nil
        changed.insert(index)
        pausedUntil = nil
        return nil
    }

    /// Writes the states changed in this transaction; call before it commits.
    func flush() throws(SQLiteError) {
        for index in changed.sorted() { try saveState(models[index]) }
        changed.removeAll()
    }

    /// Reads every state and the head again, after a rolled-back transaction or another connection's commit.
    func reload() throws(SQLiteError) {
        changed.removeAll()
        head = try selectHead()
        for index in models.indices {
            let name = models[index].definition.name
            if let state = try loadState(name) { models[index].state = state }
            // Past every generation in use, whoever made it (another connection, or a transaction rolled back).
            let state = models[index].state
            models[index].nextGeneration = max(
                models[index].nextGeneration, try largestGeneration(of: name) + 1,
                (state.servedGeneration ?? 0) + 1, (state.building?.generation ?? 0) + 1)
        }
        retired.removeAll { isInUse($0.generation, of: $0.model) }
    }

    /// Whether `generation` is the served or the building generation of read model `name`: rows that must never be
    /// deleted as retired, whatever the list of retired generations says after a rolled-back transaction.
    private func isInUse(_ generation: Int64, of name: String) -> Bool {
        models.contains { model in
            model.definition.name == name
                && (model.state.servedGeneration == generation || model.state.building?.generation == generation)
        }
    }

    // MARK: Batches

    /// Whether a batch has work to do.
    var hasWork: Bool {
        guard !isStopped else { return false }
        if let pausedUntil, Date() < pausedUntil { return false }
        return !retired.isEmpty || models.contains { needsCatchUp($0) || needsBuild($0) }
    }

    /// Whether the served generation is of this store's version and behind the head of the log.
    private func needsCatchUp(_ model: Model) -> Bool {
        model.state.failure == nil && Self.servesOwnVersion(model) && model.state.position < head
    }

    /// Whether a generation of this store's version is being built and has not failed.
    private func needsBuild(_ model: Model) -> Bool {
        model.state.failure == nil && model.state.building?.failure == nil && model.buildsOwnVersion
    }

    /// Runs one batch of work inside the writer's transaction: catches a served generation up, builds a new one,
    /// or deletes rows of a retired one. Returns the batch to report once the transaction has committed.
    ///
    /// The work is taken in turns — each read model's catch-up, then its build, then the deletion of retired rows —
    /// starting after the last turn that ran, so that each piece of work gets a batch within
    /// `2 × models.count + 1` batches. While appends keep coming the writer runs one batch after each group commit,
    /// and an async read model is behind again after every one: taking the first work found would give it every
    /// batch, and another read model's backfill or catch-up, a rebuild, or a deletion would wait for as long as the
    /// appends go on.
    func runBatch() throws(SQLiteError) -> SQLiteReadModelBatch? {
        pausedUntil = nil
        head = try selectHead()
        let turns = 2 * models.count + 1
        for step in 0..<turns {
            let turn = (nextTurn + step) % turns
            let index = turn / 2
            if index == models.count {
                guard !retired.isEmpty else { continue }
                nextTurn = 0
                try deleteRetiredRows()
                return nil
            }
            let building = turn % 2 == 1
            guard building ? needsBuild(models[index]) : needsCatchUp(models[index]) else { continue }
            nextTurn = turn + 1
            return try advance(index, building: building)
        }
        return nil
    }

    /// Deletes a batch of rows of the first retired generation, and drops it from the list once it has none left.
    private func deleteRetiredRows() throws(SQLiteError) {
        guard let (model, generation) = retired.first else { return }
        guard !isInUse(generation, of: model) else {
            retired.removeFirst()
            return
        }
        let statement = try statement(
            """
            DELETE FROM read_model_rows WHERE model = ?1 AND generation = ?2 AND key IN
                (SELECT key FROM read_model_rows WHERE model = ?1 AND generation = ?2 LIMIT ?3)
            """)
        statement.bind(model, at: 1)
        statement.bind(generation, at: 2)
        // Ten batches' worth of rows, saturating: a batch size of `Int.max` means "no limit", not a trap.
        let (rows, overflow) = batchSize.multipliedReportingOverflow(by: 10)
        statement.bind(Int64(clamping: overflow ? Int.max : rows), at: 3)
        try statement.execute()
        if sqlite3_changes(connection.handle) == 0 { retired.removeFirst() }
    }

    /// Reports a committed batch to the test hook, which may stop further batches.
    func report(_ batch: SQLiteReadModelBatch) {
        if let batchCommitted, !batchCommitted(batch) { isStopped = true }
    }

    /// Applies the next batch of events to the served generation or to the one being built, and serves the latter
    /// when it reaches the head.
    private func advance(_ index: Int, building: Bool) throws(SQLiteError) -> SQLiteReadModelBatch? {
        let definition = models[index].definition
        let state = models[index].state
        guard let generation = building ? state.building?.generation : state.servedGeneration else { return nil }
        let from = building ? state.building?.position ?? 0 : state.position
        let events: [RecordedEvent]
        do throws(SQLiteError) {
            events = try readEvents(after: from, limit: batchSize)
        } catch {
            guard Self.failsReadModel(error) else { throw error }
            fail(index, building: building, with: "\(error.eventStoreError)")
            return nil
        }
        if let error = try fold(events, into: definition, generation: generation) {
            fail(index, building: building, with: "\(error)")
            return nil
        }
        let to = events.last?.position ?? from
        var isLive = false
        if building {
            models[index].state.building?.position = to
            if to >= head, let build = models[index].state.building {
                if let old = models[index].state.servedGeneration { retired.append((definition.name, old)) }
                models[index].state.servedGeneration = build.generation
                models[index].state.servedVersion = build.version
                models[index].state.position = to
                models[index].state.building = nil
                isLive = true
            }
        } else {
            models[index].state.position = to
            isLive = to >= head
        }
        changed.insert(index)
        return SQLiteReadModelBatch(
            name: definition.name, generation: generation, from: from, to: to, head: head, isLive: isLive)
    }

    /// Records `failure` on the generation a batch of read model `index` was for: that generation stops where it is,
    /// until the store is opened again or a rebuild is asked for.
    private func fail(_ index: Int, building: Bool, with failure: String) {
        if building, models[index].state.servedGeneration != nil {
            // Only the build stops. The served rows are not at fault: the stores that run their version (this one
            // for a rebuild of its own version, older ones during a rolling upgrade whose new code throws) go on
            // folding into them and catching them up, instead of serving rows ever more stale.
            models[index].state.building?.failure = failure
        } else {
            models[index].state.failure = failure
        }
        changed.insert(index)
    }

    /// Whether an error in reading a batch's events fails the read model, as a projection that throws does, instead
    /// of failing the batch's transaction to be tried again.
    ///
    /// Only `SQLITE_CORRUPT` does: an event row the store never writes (``SQLiteStatement/checkEventColumns()``), or
    /// a file SQLite finds damaged. Reading it again finds it the same, so a retry would fail every second for ever
    /// while the status went on saying `backfilling` or `live`; failed, the read model tells its readers and waiters
    /// why. Everything else (`SQLITE_BUSY` past the busy timeout, I/O errors, a full disk, no memory) may pass, and
    /// fails only the transaction, which the writer tries again (``pauseAfterFailure()``).
    static func failsReadModel(_ error: SQLiteError) -> Bool {
        error.primaryCode == SQLITE_CORRUPT
    }

    /// Folds `events` into `generation` of a read model and writes the changed rows; returns what the projection
    /// threw (nothing is written then).
    private func fold(_ events: [RecordedEvent], into definition: ReadModelDefinition, generation: Int64)
        throws(SQLiteError) -> (any Error)?
    {
        guard !events.isEmpty else { return nil }
        let keys: [String]
        do {
            keys = try definition.keys(of: events)
        } catch {
            return error
        }
        guard !keys.isEmpty else { return nil }
        var rows: [UTF8Key: ReadModelRow] = [:]
        let select = try statement(
            "SELECT index_value, position, body FROM read_model_rows WHERE model = ?1 AND generation = ?2 AND key = ?3")
        for key in keys {
            select.bind(definition.name, at: 1)
            select.bind(generation, at: 2)
            select.bind(key, at: 3)
            defer { select.reset() }
            if try select.step() {
                rows[UTF8Key(key)] = ReadModelRow(
                    key: key, indexValue: select.isNull(at: 0) ? nil : select.text(at: 0),
                    position: select.uint64(at: 1), body: select.data(at: 2))
            }
        }
        let changes: [ReadModelDefinition.Change]
        do {
            changes = try definition.fold(events, into: rows)
        } catch {
            return error
        }
        let upsert = try statement(
            """
            INSERT INTO read_model_rows (model, generation, key, index_value, position, body)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            ON CONFLICT (model, generation, key) DO UPDATE SET
                index_value = excluded.index_value, position = excluded.position, body = excluded.body
            """)
        let delete = try statement("DELETE FROM read_model_rows WHERE model = ?1 AND generation = ?2 AND key = ?3")
        for change in changes {
            if let row = change.row {
                upsert.bind(definition.name, at: 1)
                upsert.bind(generation, at: 2)
                upsert.bind(change.key, at: 3)
                if let indexValue = row.indexValue { upsert.bind(indexValue, at: 4) } else { upsert.bindNull(at: 4) }
                upsert.bind(row.position, at: 5)
                let error: SQLiteError? = row.body.withUnsafeBytes { body in
                    upsert.bindBorrowedPayload(body, at: 6)
                    return upsert.executeReturningError()
                }
                if let error { throw error }
            } else {
                delete.bind(definition.name, at: 1)
                delete.bind(generation, at: 2)
                delete.bind(change.key, at: 3)
                try delete.execute()
            }
        }
        return nil
    }

    // MARK: Statements

    private func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let statement = statements[sql] { return statement }
        let statement = try connection.prepare(sql)
        statements[sql] = statement
        return statement
    }

    private func selectHead() throws(SQLiteError) -> UInt64 {
        let statement = try statement("SELECT max(position) FROM events")
        defer { statement.reset() }
        return try statement.step() ? statement.uint64(at: 0) : 0
    }

    /// Up to `limit` events after `position`, in order.
    private func readEvents(after position: UInt64, limit: Int) throws(SQLiteError) -> [RecordedEvent] {
        let statement = try statement(
            """
            SELECT e.position, e.version, e.event_id, e.event_type, e.data, e.metadata, e.recorded_at,
                e.schema_version, s.stream_id
            FROM events e JOIN streams s ON s.stream_key = e.stream_key
            WHERE e.position > ?1 ORDER BY e.position LIMIT ?2
            """)
        defer { statement.reset() }
        statement.bind(position, at: 1)
        statement.bind(Int64(limit), at: 2)
        var events: [RecordedEvent] = []
        while try statement.step() {
            try statement.checkEventColumns()
            events.append(
                RecordedEvent(
                    streamID: StreamID(statement.text(at: 8)), streamVersion: statement.uint64(at: 1),
                    position: statement.uint64(at: 0), eventID: statement.messageID(at: 2),
                    eventType: statement.text(at: 3), schemaVersion: Int(statement.int64(at: 7)),
                    data: statement.data(at: 4), metadata: statement.data(at: 5),
                    recordedAt: Date(timeIntervalSince1970: Double(statement.int64(at: 6)) / 1_000_000)))
        }
        return events
    }

    private func loadState(_ name: String) throws(SQLiteError) -> SQLiteReadModelState? {
        let statement = try statement(SQLiteReadModels.selectStateSQL)
        defer { statement.reset() }
        statement.bind(name, at: 1)
        guard try statement.step() else { return nil }
        return Self.state(from: statement)
    }

    /// The `read_models` columns ``state(from:)`` reads, for the row named `?1`.
    static let selectStateSQL = """
        SELECT served_generation, served_version, position, building_generation, building_version,
            building_position, failure, state
        FROM read_models WHERE name = ?1
        """

    /// A state from a row of ``selectStateSQL``.
    static func state(from statement: SQLiteStatement) -> SQLiteReadModelState {
        var state = SQLiteReadModelState(position: statement.uint64(at: 2))
        if !statement.isNull(at: 0) {
            state.servedGeneration = statement.int64(at: 0)
            state.servedVersion = Int(statement.int64(at: 1))
        }
        if !statement.isNull(at: 3) {
            state.building = SQLiteReadModelState.Build(
                generation: statement.int64(at: 3), version: Int(statement.int64(at: 4)),
                position: statement.uint64(at: 5))
        }
        if !statement.isNull(at: 6) {
            let failure = statement.text(at: 6)
            if state.building != nil, statement.text(at: 7) == SQLiteReadModelState.rebuildFailed {
                state.building?.failure = failure
            } else {
                state.failure = failure
            }
        }
        return state
    }

    private func saveState(_ model: Model) throws(SQLiteError) {
        let statement = try statement(
            """
            INSERT INTO read_models (name, served_generation, served_version, position, building_generation,
                building_version, building_position, state, failure)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            ON CONFLICT (name) DO UPDATE SET
                served_generation = excluded.served_generation, served_version = excluded.served_version,
                position = excluded.position, building_generation = excluded.building_generation,
                building_version = excluded.building_version, building_position = excluded.building_position,
                state = excluded.state, failure = excluded.failure
            """)
        let state = model.state
        statement.bind(model.definition.name, at: 1)
        if let served = state.servedGeneration, let version = state.servedVersion {
            statement.bind(served, at: 2)
            statement.bind(Int64(version), at: 3)
        }
        statement.bind(state.position, at: 4)
        if let building = state.building {
            statement.bind(building.generation, at: 5)
            statement.bind(Int64(building.version), at: 6)
            statement.bind(building.position, at: 7)
        }
        statement.bind(state.stateName, at: 8)
        if let failure = state.failure ?? state.building?.failure { statement.bind(failure, at: 9) }
        try statement.execute()
    }

    private func largestGeneration(of name: String) throws(SQLiteError) -> Int64 {
        let statement = try statement("SELECT max(generation) FROM read_model_rows WHERE model = ?1")
        defer { statement.reset() }
        statement.bind(name, at: 1)
        return try statement.step() ? statement.int64(at: 0) : 0
    }

    /// The distinct generations that have rows of read model `name`, one index seek each.
    private func generations(of name: String) throws(SQLiteError) -> [Int64] {
        let statement = try statement(
            "SELECT generation FROM read_model_rows WHERE model = ?1 AND generation > ?2 ORDER BY generation LIMIT 1")
        var generations: [Int64] = []
        var after = Int64.min
        while true {
            statement.bind(name, at: 1)
            statement.bind(after, at: 2)
            defer { statement.reset() }
            guard try statement.step() else { return generations }
            after = statement.int64(at: 0)
            generations.append(after)
        }
    }
}
