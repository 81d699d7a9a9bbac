/// The read models of an ``InMemoryEventStore``: their definitions and tables, a plain value kept in the store's
/// state and changed under its lock.
///
/// Every change is synchronous: a backfill, a catch-up or a rebuild folds the events it needs in one go and then
/// replaces the table, so a reader (who takes the same lock) sees the old rows or the new ones, never a part.
struct InMemoryReadModels: Sendable {
    /// One read model's served rows.
    struct Table: Sendable {
        /// The version the rows were built with; `nil` while no build has completed (the first one failed).
        var version: Int?
        /// The position of the last event applied to the rows.
        var position: UInt64
        var rows: [UTF8Key: ReadModelRow]
        /// What the projection threw on these rows, or on the first build, once it failed: the rows are no longer
        /// kept up.
        var failure: String?
        /// A build of new rows that failed beside these, which are still served and kept up.
        var failedBuild: FailedBuild?
    }

    /// A build of new rows that the projection threw on, beside rows that were served before it started.
    struct FailedBuild: Sendable {
        /// The version built.
        var version: Int
        /// The position of the last event applied to the new rows before the projection threw.
        var position: UInt64
        /// What the projection threw.
        var failure: String
    }

    /// The registered read models, in registration order.
    private(set) var definitions: [ReadModelDefinition] = []
    /// Tables by name; tables of read models no longer registered are kept, as a durable store keeps them.
    private(set) var tables: [String: Table] = [:]

    /// The registered read model `name`.
    func definition(named name: String) throws(ReadModelError) -> ReadModelDefinition {
        guard let definition = definitions.first(where: { $0.name == name }) else {
            throw ReadModelError(
                .unknownReadModel, readModel: name, message: "no read model of this name is registered with the store")
        }
        return definition
    }

    /// Registers `definitions` and brings each table up to `log`'s head: a table of the same version catches up from
    /// its position; a new read model, a new version, a failed one or one whose build failed is built from
    /// position 0.
    mutating func register(_ definitions: [ReadModelDefinition], log: ChunkedLog<RecordedEvent>) {
        self.definitions = definitions
        for definition in definitions {
            if let table = tables[definition.name], table.version == definition.version, table.failure == nil,
                table.failedBuild == nil
            {
                catchUp(definition, log: log)
            } else {
                rebuild(definition, log: log)
            }
        }
    }

    /// Builds `definition`'s rows from position 0 and replaces the table with them.
    ///
    /// If the projection throws, only the build stops, as in the stores that keep their rows in a database: rows
    /// served before it are still served, their failure (if any) is cleared as a rebuild clears it, and they are
    /// kept up if they are of `definition`'s version; the failed build is reported in the status until the read
    /// model is registered again or rebuilt. With no rows served (the first build), the read model fails.
    mutating func rebuild(_ definition: ReadModelDefinition, log: ChunkedLog<RecordedEvent>) {
        var fresh = Table(version: definition.version, position: 0, rows: [:])
        guard let failure = Self.fold(definition, into: &fresh, log: log) else {
            tables[definition.name] = fresh
            return
        }
        var table = tables[definition.name] ?? Table(version: nil, position: 0, rows: [:])
        if table.version != nil {
            table.failure = nil
            table.failedBuild = FailedBuild(version: definition.version, position: fresh.position, failure: failure)
            tables[definition.name] = table
            catchUp(definition, log: log)
        } else {
            table.failure = failure
            tables[definition.name] = table
        }
    }

    /// Whether `definition`'s rows are served and kept up: built with its version (its code may fold into them)
    /// and not failed.
    private func keepsUp(_ definition: ReadModelDefinition) -> Bool {
        guard let table = tables[definition.name] else { return false }
        return table.failure == nil && table.version == definition.version
    }

    /// Applies the events after the table's position, unless it has failed or is of another version.
    mutating func catchUp(_ definition: ReadModelDefinition, log: ChunkedLog<RecordedEvent>) {
        guard keepsUp(definition), var table = tables[definition.name], table.position < UInt64(log.count) else {
            return
        }
        if let failure = Self.fold(definition, into: &table, log: log) {
            tables[definition.name]?.failure = failure
        } else {
            tables[definition.name] = table
        }
    }

    /// Brings every live ``ReadModelMode/async`` read model up to the head of `log`.
    mutating func catchUpAsync(log: ChunkedLog<RecordedEvent>) {
        for definition in definitions where definition.mode == .async {
            catchUp(definition, log: log)
        }
    }

    /// The changes the live ``ReadModelMode/inline`` read models make for one append's events, not yet applied.
    ///
    /// - Throws: `EventStoreError` (``EventStoreError/Code/inlineProjectionFailed``) naming the read model that threw.
    func inlineChanges(for events: [RecordedEvent], streamID: StreamID) throws(EventStoreError)
        -> [(name: String, changes: [ReadModelDefinition.Change])]
    {
        var result: [(name: String, changes: [ReadModelDefinition.Change])] = []
        for definition in definitions where definition.mode == .inline {
            guard keepsUp(definition), let table = tables[definition.name] else { continue }
            do {
                let keys = try definition.keys(of: events)
                var rows: [UTF8Key: ReadModelRow] = [:]
                for key in keys { rows[UTF8Key(key)] = table.rows[UTF8Key(key)] }
                result.append((definition.name, try definition.fold(events, into: rows)))
            } catch {
                throw EventStoreError(
                    .inlineProjectionFailed, streamID: streamID,
                    message: "read model '\(definition.name)' failed: \(error)")
            }
        }
        return result
    }

    /// Applies changes ``inlineChanges(for:streamID:)`` computed, and moves every live inline read model's position
    /// to `position`.
    mutating func apply(_ changes: [(name: String, changes: [ReadModelDefinition.Change])], position: UInt64) {
        for (name, list) in changes {
            for change in list { tables[name]?.rows[UTF8Key(change.key)] = change.row }
        }
        for definition in definitions where definition.mode == .inline && keepsUp(definition) {
            tables[definition.name]?.position = position
        }
    }

    /// Folds the events of `log` after `table.position` into `table`, a thousand at a time; returns what the
    /// projection threw, leaving `table` partly folded, or `nil`.
    private static func fold(_ definition: ReadModelDefinition, into table: inout Table, log: ChunkedLog<RecordedEvent>)
        -> String?
    {
        let head = log.count
        var next = Int(table.position)
        while next < head {
            let batch = log.elements(in: next..<min(next + 1_000, head))
            do {
                let keys = try definition.keys(of: batch)
                var rows: [UTF8Key: ReadModelRow] = [:]
                for key in keys { rows[UTF8Key(key)] = table.rows[UTF8Key(key)] }
                for change in try definition.fold(batch, into: rows) {
                    table.rows[UTF8Key(change.key)] = change.row
                }
            } catch {
                return "\(error)"
            }
            next += batch.count
            table.position = UInt64(next)
        }
        return nil
    }

    /// The status of read model `name` with the log at `head`.
    func status(of name: String, head: UInt64) throws(ReadModelError) -> ReadModelStatus {
        let definition = try definition(named: name)
        let table = tables[name] ?? Table(version: nil, position: 0, rows: [:])
        // A failed build is reported as the read model's failure, as the other stores report it: a task waiting for
        // the rebuild to end learns that it will not, and `rebuild` says which version failed.
        let failure = table.failure ?? table.failedBuild?.failure
        let rebuild = table.failedBuild.map {
            ReadModelStatus.Rebuild(version: $0.version, position: $0.position, head: head)
        }
        return ReadModelStatus(
            name: definition.name, state: failure != nil ? .failed : .live, servedVersion: table.version,
            position: table.position, head: head, rebuild: rebuild, failure: failure)
    }

    /// The served table of `name`.
    ///
    /// - Throws: ``ReadModelError/Code/unknownReadModel``, or ``ReadModelError/Code/failed`` when no rows were ever
    ///   built.
    func servedTable(of name: String) throws(ReadModelError) -> Table {
        _ = try definition(named: name)
        guard let table = tables[name], table.version != nil else {
            throw ReadModelError(
                .failed, readModel: name,
                message: "the read model has no rows to serve: \(tables[name]?.failure ?? "it was never built")")
        }
        return table
    }
}
