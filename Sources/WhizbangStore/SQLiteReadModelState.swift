import Whizbang

/// Where one read model of a ``SQLiteEventStore`` stands: a row of the `read_models` table, as the writer keeps it.
struct SQLiteReadModelState: Sendable, Equatable {
    /// A generation of rows being built beside the served one.
    struct Build: Sendable, Equatable {
        var generation: Int64
        var version: Int
        /// The position of the last event applied to it.
        var position: UInt64
    }

    var servedGeneration: Int64?
    var servedVersion: Int?
    /// The position of the last event applied to the served generation.
    var position: UInt64
    var building: Build?
    /// What the projection threw; the read model does nothing more until the store is opened again.
    var failure: String?

    /// `backfilling`, `live` or `failed`, as the `state` column holds it.
    var stateName: String {
        failure != nil ? "failed" : servedGeneration == nil ? "backfilling" : "live"
    }

    /// The status a reader reports, with the log at `head`.
    func status(name: String, head: UInt64) -> ReadModelStatus {
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
