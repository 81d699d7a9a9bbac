import Whizbang

/// Where one read model of a ``SQLiteEventStore`` stands: a row of the `read_models` table, as the writer keeps it.
struct SQLiteReadModelState: Sendable, Equatable {
    /// A generation of rows being built beside the served one.
    struct Build: Sendable, Equatable {
        var generation: Int64
        var version: Int
        /// The position of the last event applied to it.
        var position: UInt64
        /// What the projection threw on this build beside a served generation, or the corrupt event row the build
        /// met: the build stops where it is (until the store is opened again or a rebuild is asked for), and the
        /// served generation goes on.
        var failure: String? = nil
    }

    var servedGeneration: Int64?
    var servedVersion: Int?
    /// The position of the last event applied to the served generation.
    var position: UInt64
    var building: Build?
    /// What the projection threw on the served generation or on the first backfill, or the corrupt event row the
    /// batch met (`corruptDatabase`); the read model does nothing more until the store is opened again. A failed
    /// build beside a served generation is ``Build/failure``.
    var failure: String?

    /// `backfilling`, `live`, `failed` or `rebuild failed`, as the `state` column holds it.
    var stateName: String {
        if failure != nil { return "failed" }
        if building?.failure != nil { return Self.rebuildFailed }
        return servedGeneration == nil ? "backfilling" : "live"
    }

    /// The `state` that says the `failure` column is of the build, not of the served generation. The two columns
    /// are all the file has to tell them apart: every process on it reads them to decide whether it keeps the served
    /// rows up.
    static let rebuildFailed = "rebuild failed"

    /// The status a reader reports, with the log at `head`.
    func status(name: String, head: UInt64) -> ReadModelStatus {
        // A failed build is reported as the read model's failure too: a task waiting for the rebuild to end learns
        // that it will not, and `rebuild` says which version failed.
        let failure = self.failure ?? building?.failure
        let state: ReadModelStatus.State =
            failure != nil ? .failed : servedGeneration == nil ? .backfilling : .live
        var rebuild: ReadModelStatus.Rebuild?
        if let building, servedGeneration != nil {
            rebuild = ReadModelStatus.Rebuild(version: building.version, position: building.position, head: head)
        }
        return ReadModelStatus(
            name: name, state: state, servedVersion: servedGeneration == nil ? nil : servedVersion,
            position: servedGeneration == nil ? building?.position ?? position : position, head: head,
            rebuild: rebuild, failure: failure)
    }
}
