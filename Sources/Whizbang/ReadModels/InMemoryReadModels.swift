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
        /// What the projection threw, once it failed.
        var failure: String?
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
    /// its position; a new read model, a new version or a failed one is built from position 0.
    mutating func register(_ definitions: [ReadModelDefinition], log: ChunkedLog<RecordedEvent>) {
        self.definitions = definitions
        for definition in definitions {
            if let table = tables[definition.name], table.version == definition.version, table.failure == nil {
                catchUp(definition, log: log)
            } else {
                rebuild(definition, log: log)
            }
        }
    }

    /// Builds `definition`'s rows from position 0 and replaces the table with them; if the projection throws, the
    /// table keeps its rows and is marked failed.
    mutating func rebuild(_ definition: ReadModelDefinition, log: ChunkedLog<RecordedEvent>) {
        var fresh = Table(version: definition.version, position: 0, rows: [:])
        if let failure = Self.fold(definition, into: &fresh, log: log) {
            var table = tables[definition.name] ?? Table(version: nil, position: 0, rows: [:])
            table.failure = failure
            tables[definition.name] = table
        } else {
            tables[definition.name] = fresh
        }
    }

    /// Applies the events after the table's position, unless it has failed.
    mutating func catchUp(_ definition: ReadModelDefinition, log: ChunkedLog<RecordedEvent>) {
        guard var table = tables[definition.name], table.failure == nil, table.position < UInt64(log.count) else {
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
            guard let table = tables[definition.name], table.failure == nil, table.version != nil else { continue }
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
        for definition in definitions where definition.mode == .inline {
            if tables[definition.name]?.failure == nil { tables[definition.name]?.position = position }
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
        return ReadModelStatus(
            name: definition.name, state: table.failure != nil ? .failed : .live, servedVersion: table.version,
            position: table.position, head: head, failure: table.failure)
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
