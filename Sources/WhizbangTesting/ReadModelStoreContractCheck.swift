public import Whizbang

/// One rule of the ``ReadModelStoreContract``, runnable against any `ReadModelStore`.
///
/// A check opens the store under test through a ``ReadModelStoreOpener``, as often as the rule needs (a store with
/// history gets a new read model by being opened again). It throws ``ContractViolation`` when the store breaks the
/// rule. Checks are independent of each other and of any test framework:
///
/// ```swift
/// @Test(arguments: ReadModelStoreContract.checks)
/// func contract(_ check: ReadModelStoreContractCheck) async throws {
///     try await withTemporaryDatabase { path in
///         try await check.run(ReadModelStoreOpener(
///             open: { readModels in try await MyStore.open(path: path, readModels: readModels) },
///             close: { store in try await (store as! MyStore).close() }))
///     }
/// }
/// ```
public struct ReadModelStoreContractCheck: Sendable, CustomStringConvertible {
    /// A dotted name that says which rule it checks, such as `"readModel.query.paging"`; unique within the contract.
    public let name: String
    /// Runs the check against a fresh, empty database; throws ``ContractViolation`` when a rule is broken.
    public let run: @Sendable (ReadModelStoreOpener) async throws -> Void

    /// Creates a check; the contract's own checks are in ``ReadModelStoreContract/checks``.
    public init(name: String, run: @escaping @Sendable (ReadModelStoreOpener) async throws -> Void) {
        self.name = name
        self.run = run
    }

    /// The check's ``name``, which test runners show for the argument.
    public var description: String { name }
}

/// Opens and closes the store under test on one database, for a ``ReadModelStoreContractCheck``.
///
/// Every store a check opens sees the same database: the first opening finds it empty, each later one finds the
/// events and read model rows the earlier ones left, as a process that restarts would. A check closes each store
/// before it opens the next. The test that runs the check closes whatever a failed check left open, and removes the
/// database afterwards.
public struct ReadModelStoreOpener: Sendable {
    private let openStore: @Sendable ([any ReadModelProjection]) async throws -> any ReadModelStore
    private let closeStore: @Sendable (any ReadModelStore) async throws -> Void

    /// An opener from two closures.
    ///
    /// - Parameters:
    ///   - open: opens the database with these read models registered, in this order; it must throw the store's
    ///     error (for example `ReadModelError.Code.duplicateName`) when the store refuses them.
    ///   - close: closes a store `open` returned, waiting until it is closed.
    public init(
        open: @escaping @Sendable ([any ReadModelProjection]) async throws -> any ReadModelStore,
        close: @escaping @Sendable (any ReadModelStore) async throws -> Void
    ) {
        self.openStore = open
        self.closeStore = close
    }

    /// Opens the database with `readModels` registered.
    public func open(_ readModels: [any ReadModelProjection]) async throws -> any ReadModelStore {
        try await openStore(readModels)
    }

    /// Closes a store ``open(_:)`` returned.
    public func close(_ store: any ReadModelStore) async throws {
        try await closeStore(store)
    }
}
