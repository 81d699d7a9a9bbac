/// A queryable read model that the event store keeps in its own database: a table of rows, each a `Row` value under
/// a string key, folded from the log one event at a time.
///
/// A read model projection says, for each event, which rows it changes (``keys(of:)``) and what each of those rows
/// becomes (``apply(_:to:key:)``). The store does the rest: it loads the rows an event touches, calls
/// ``apply(_:to:key:)`` once per key, in log order, and writes the results — in the append's own transaction for an
/// ``ReadModelMode/inline`` read model, or shortly after in a transaction of its own for an
/// ``ReadModelMode/async`` one. Read the rows back with ``ReadModel``: by key, by a key range, or by the value of
/// ``indexValue(of:)``.
///
/// Because the store owns the table, it can also build it from history: a read model registered on a store whose
/// log already holds events is **backfilled** from position 0 in batches (resumable after a crash, with progress in
/// ``ReadModelStatus``) before it goes live, and a new ``version`` (or ``ReadModelStore/rebuildReadModel(named:)``)
/// builds a fresh generation of the table beside the one being served and swaps it in atomically once it has caught
/// up, so readers never see an empty or half-built table.
///
/// ```swift
/// struct LoansByMember: ReadModelProjection {
///     struct Row: Codable, Sendable { var member: String; var books: [String] }
///     let name = "loans-by-member"
///
///     func keys(of event: RecordedEvent) throws -> [String] {
///         switch try event.decode(as: Book.self) {
///         case .lent(let lent)?: [lent.member]
///         case .returned(let returned)?: [returned.member]
///         default: []
///         }
///     }
///
///     func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
///         var row = row ?? Row(member: key, books: [])
///         switch try event.decode(as: Book.self) {
///         case .lent?: row.books.append(event.streamID.rawValue)
///         case .returned?: row.books.removeAll { $0 == event.streamID.rawValue }
///         default: break
///         }
///         return row.books.isEmpty ? nil : row
///     }
/// }
/// ```
///
/// ``apply(_:to:key:)`` must be a pure function of its arguments: the store calls it again for the same events when
/// it rebuilds, and an ``ReadModelMode/inline`` read model's work is done inside every append, so keep it quick. Rows
/// are stored as JSON (`JSONPayloadCodec`); a change to `Row`'s shape that old rows cannot decode needs a new
/// ``version``.
public protocol ReadModelProjection: Sendable {
    /// The value stored under each key.
    associatedtype Row: Codable & Sendable

    /// The read model's name: its identity in the store, unique among the store's read models, not empty and without
    /// a NUL character (``ReadModelError/Code/invalidName``). Never change it once rows are stored; a new name builds
    /// a new read model from the start of the log.
    var name: String { get }

    /// The version of the fold. Raise it whenever ``apply(_:to:key:)``, ``keys(of:)``, ``indexValue(of:)`` or `Row`
    /// change in a way that makes the stored rows wrong: the store then rebuilds the table from the log and swaps the
    /// new rows in when they have caught up, serving the old rows meanwhile. Default: 1. It must lie in
    /// ``versionRange`` (a 32-bit integer, which every store keeps as it is); a store refuses to open with a
    /// projection whose version does not (``ReadModelError/Code/invalidVersion``).
    ///
    /// Never lower it. A store whose version is older than the one the database serves or builds takes that for a
    /// rolling upgrade and leaves the newer rows alone; to go back to an older fold, give it a version above the
    /// newest one used.
    var version: Int { get }

    /// When the store applies events: in the append's transaction, or after it. Default: ``ReadModelMode/inline``.
    var mode: ReadModelMode { get }

    /// The keys of the rows that `event` changes, in any order; an empty array for an event this read model ignores.
    /// A key named twice is applied once. A key holds at most ``ReadModelRow/maximumKeyLength`` UTF-8 bytes and no
    /// NUL character: any other is treated as an error thrown here (``ReadModelError/Code/invalidKey``).
    ///
    /// - Throws: any error: for an ``ReadModelMode/inline`` read model it fails the append
    ///   (`EventStoreError/Code/inlineProjectionFailed`); for a backfill, a rebuild or an ``ReadModelMode/async``
    ///   read model it stops the read model or its rebuild, which ``ReadModelStatus`` reports as failed
    ///   (``ReadModelStatus/State/failed`` says which rows are kept up then).
    func keys(of event: RecordedEvent) throws -> [String]

    /// The row under `key` after `event`: the new value, or `nil` to delete the row.
    ///
    /// - Parameters:
    ///   - event: an event for which ``keys(of:)`` returned `key`.
    ///   - row: the row's current value, including the changes of the events before `event`; `nil` if there is none.
    ///   - key: the row's key.
    /// - Throws: any error, with the consequences described at ``keys(of:)``.
    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row?

    /// A secondary value of `row` that the store indexes, to find rows with ``ReadModelQuery/indexValue``; `nil`
    /// for a row that should not be found that way. Default: `nil` for every row. The limits of a key apply
    /// (``ReadModelRow/maximumKeyLength``, no NUL character); a value beyond them fails the event's fold as an error
    /// thrown by ``apply(_:to:key:)`` would.
    func indexValue(of row: Row) -> String?
}

extension ReadModelProjection {
    /// Version 1.
    public var version: Int { 1 }

    /// The versions a store accepts: those of a signed 32-bit integer but its largest, 2,147,483,647, which is kept
    /// for the versions an earlier release stored clamped. A date and time as a number (`202612051430`) does not
    /// fit; count versions up from 1 instead. A version a store finds stored outside this range (one written before
    /// the range was enforced) counts as obsolete: the store builds its own version in its place.
    public static var versionRange: ClosedRange<Int> { ReadModelDefinition.versionRange }

    /// Applied in the append's transaction.
    public var mode: ReadModelMode { .inline }

    /// No secondary index.
    public func indexValue(of row: Row) -> String? { nil }
}
