public import Whizbang

/// One rule of the ``EventStoreContract``, runnable against any `EventStore`.
///
/// A check expects a fresh, empty store and leaves events in it. It throws ``ContractViolation`` when the store breaks
/// the rule, and passes on any other error the store throws where the rule expects success. Checks are independent
/// of each other and of any test framework, so a test target can run each as a parameterised test:
///
/// ```swift
/// @Test(arguments: EventStoreContract.checks)
/// func contract(_ check: EventStoreContractCheck) async throws {
///     try await check.run(makeFreshStore())
/// }
/// ```
public struct EventStoreContractCheck: Sendable, CustomStringConvertible {
    /// A dotted name that says which rule it checks, such as `"idempotency.prefix"`; unique within the contract.
    public let name: String
    /// Runs the check against a fresh, empty store; throws ``ContractViolation`` when a rule is broken.
    public let run: @Sendable (any EventStore) async throws -> Void

    /// Creates a check; the contract's own checks are in ``EventStoreContract/checks``.
    public init(name: String, run: @escaping @Sendable (any EventStore) async throws -> Void) {
        self.name = name
        self.run = run
    }

    /// The check's ``name``, which test runners show for the argument.
    public var description: String { name }
}
