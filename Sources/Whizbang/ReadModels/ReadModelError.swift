/// An error from a read model: a query the store cannot answer, rows that do not decode, or a read model that is not
/// ready.
///
/// Compare ``code`` with the static members of ``Code``, for example `error.code == .notLive`. New codes may be added
/// without breaking the API.
public struct ReadModelError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can be compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unknownReadModel
            case duplicateName
            case notLive
            case failed
            case invalidQuery
            case undecodableRow
            case timedOut
            case invalidKey
            case invalidVersion
            case invalidName
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No read model of that name is registered with the store.
        public static let unknownReadModel = Code(.unknownReadModel)
        /// Two read models registered with one store have the same name; the store refuses to open.
        public static let duplicateName = Code(.duplicateName)
        /// The read model's first backfill has not reached the head of the log, so there are no rows to serve yet.
        public static let notLive = Code(.notLive)
        /// The projection threw while the store built or followed the rows, or the store found an event row there
        /// corrupt (see ``ReadModelStatus/State/failed``); ``ReadModelError/message`` has its words.
        public static let failed = Code(.failed)
        /// The query cannot be run (a limit out of range).
        public static let invalidQuery = Code(.invalidQuery)
        /// A stored row does not decode as the projection's `Row` type; raise the projection's version when `Row`
        /// changes shape.
        public static let undecodableRow = Code(.undecodableRow)
        /// A wait for the read model ran out of time before the read model got where it was waited for.
        public static let timedOut = Code(.timedOut)

        /// A key or an indexed value no store can keep (``ReadModelRow/maximumKeyLength``, no NUL character), given by
        /// a projection: it fails the read model or the append as the projection's own error would
        /// (``ReadModelProjection/keys(of:)``). A lookup by such a key finds no row.
        public static let invalidKey = Code(.invalidKey)
        /// A projection's ``ReadModelProjection/version`` is outside the range every store keeps
        /// (``ReadModelProjection/versionRange``), and the store refuses to open; or a rebuild was asked of a
        /// process whose version is older than the one another process serves or builds, which it leaves alone.
        public static let invalidVersion = Code(.invalidVersion)
        /// A projection's ``ReadModelProjection/name`` is empty or holds a NUL character, which not every store can
        /// keep; the store refuses to open.
        public static let invalidName = Code(.invalidName)

        /// The code's name, such as `notLive`.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The name of the read model concerned.
    public let readModel: String
    /// The key concerned, for ``Code/undecodableRow`` and ``Code/invalidKey``.
    public let key: String?
    /// A human-readable explanation.
    public let message: String

    /// Creates the error; stores and ``ReadModel`` throw these.
    public init(_ code: Code, readModel: String, key: String? = nil, message: String) {
        self.code = code
        self.readModel = readModel
        self.key = key
        self.message = message
    }

    /// The code, the read model and the message, as `ReadModelError.<code>: read model '<name>': <message>`.
    public var description: String {
        let keyPart = key.map { " key '\($0)':" } ?? ""
        return "ReadModelError.\(code): read model '\(readModel)':\(keyPart) \(message)"
    }
}
