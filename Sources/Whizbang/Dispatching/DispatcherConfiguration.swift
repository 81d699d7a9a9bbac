#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A ``Dispatcher``'s identity, lanes, parallelism, policies and the form it stores envelopes in.
///
/// Not nested in the generic dispatcher, so that code which configures a dispatcher does not name the store type:
/// the same configuration serves a dispatcher over any ``EventStore``.
public struct DispatcherConfiguration: Sendable {
    /// The service name recorded in hops. Default: `"whizbang"`.
    public var serviceName: String
    /// This instance's id, recorded in hops. Default: a random 8-hex-digit string.
    public var instanceID: String
    /// The policies that decide where each message runs, its retries and time limit. Default: no rules.
    public var policies: PolicySet
    /// The number of lock shards of the lane pool. Default: 64.
    public var laneShardCount: Int
    /// The most stateless handlers that run at once, and separately the most commands a policy sends to the
    /// parallel executor. Default: the active processor count.
    public var maximumParallelism: Int
    /// Wraps each command's dispatch and append in tracing spans, or `nil` for none. Default: `nil`.
    public var instrumentation: (any DispatchInstrumentation)?
    /// The clock that measures time limits (the policies' and each call's) and the waits between retries.
    /// Default: `ContinuousClock()`. Tests pass a clock they advance by hand, such as `ManualClock` from
    /// WhizbangTesting, so that nothing waits in real time.
    public var clock: any Clock<Duration>
    /// The form each recorded event's envelope metadata is stored in (see <doc:StoredEnvelopeForm>). Default:
    /// ``StoredEnvelopeEncoding/binary``, a third of the JSON form's bytes; choose ``StoredEnvelopeEncoding/json`` to
    /// read or query the metadata with the `sqlite3` shell or `psql`. Readers accept every form, so changing it
    /// later never makes a stored event unreadable.
    public var envelopeEncoding: StoredEnvelopeEncoding

    /// A configuration with the documented defaults.
    public init() {
        self.serviceName = "whizbang"
        let random = String(UInt32.random(in: .min ... .max), radix: 16)
        self.instanceID = String(repeating: "0", count: 8 - random.count) + random
        self.policies = PolicySet()
        self.laneShardCount = 64
        self.maximumParallelism = ProcessInfo.processInfo.activeProcessorCount
        self.instrumentation = nil
        self.clock = ContinuousClock()
        self.envelopeEncoding = .binary
    }
}
