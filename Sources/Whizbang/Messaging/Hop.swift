#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A record of one place a message was handled: which service and instance, when, on which stream and executor,
/// what the policies decided, how long it took, and the trace it ran in.
///
/// An envelope's ``MessageEnvelope/hops`` list its hops oldest first; add one with ``MessageEnvelope/append(hop:)``
/// or ``MessageEnvelope/addingHop(_:)``. A hop is a value: once made it does not change.
///
/// The timestamp is kept to whole microseconds and the duration to whole nanoseconds (the initializer rounds the
/// timestamp to the nearest microsecond and truncates the duration), so a hop survives encoding and decoding
/// unchanged. It encodes as a JSON object with the keys `service`, `instance`, `timestamp` (integer microseconds
/// since 1970-01-01 UTC), and, when present, `streamID`, `executor`, `decisions`, `duration` (integer
/// nanoseconds) and `traceParent` (the W3C text form); absent values and an empty decision list are left out.
public struct Hop: Hashable, Sendable, Codable {
    /// The name of the service that handled the message, such as `"ledger"`.
    public let serviceName: String

    /// Which running instance of the service handled it, such as a host name or process id.
    public let instanceID: String

    /// When the message reached this hop, to the microsecond.
    public let timestamp: Date

    /// The stream (aggregate) the message was handled on, if any.
    public let streamID: StreamID?

    /// The kind or name of the executor that ran the handler, such as `"serial"` or `"parallel"`, if known.
    public let executorName: String?

    /// The decisions policies took about the message at this hop, in the order they were taken.
    public let policyDecisions: [PolicyDecision]

    /// How long handling took at this hop, to the nanosecond, if measured.
    public let duration: Duration?

    /// The W3C trace context the message was handled in, if traced.
    public let traceParent: TraceParent?

    /// Records that a message was handled.
    ///
    /// - Parameters:
    ///   - serviceName: the service that handled the message.
    ///   - instanceID: the instance of the service that handled it.
    ///   - timestamp: when it was handled; rounded to the nearest microsecond. Defaults to now.
    ///   - streamID: the stream it was handled on, if any.
    ///   - executorName: the executor that ran it, if known.
    ///   - policyDecisions: what policies decided about it, in order.
    ///   - duration: how long handling took; truncated to whole nanoseconds.
    ///   - traceParent: the trace it ran in, if any.
    public init(
        serviceName: String,
        instanceID: String,
        timestamp: Date = Date(),
        streamID: StreamID? = nil,
        executorName: String? = nil,
        policyDecisions: [PolicyDecision] = [],
        duration: Duration? = nil,
        traceParent: TraceParent? = nil
    ) {
        self.serviceName = serviceName
        self.instanceID = instanceID
        self.timestamp = timestamp.roundedToMicroseconds
        self.streamID = streamID
        self.executorName = executorName
        self.policyDecisions = policyDecisions
        self.duration = duration?.truncatedToNanoseconds
        self.traceParent = traceParent
    }

    private enum CodingKeys: String, CodingKey {
        case serviceName = "service"
        case instanceID = "instance"
        case timestamp
        case streamID
        case executorName = "executor"
        case policyDecisions = "decisions"
        case duration
        case traceParent
    }

    /// Decodes the JSON object described above.
    ///
    /// Throws `DecodingError` when `service`, `instance` or `timestamp` is missing, or a value (such as the
    /// `traceParent`) is malformed.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            serviceName: try container.decode(String.self, forKey: .serviceName),
            instanceID: try container.decode(String.self, forKey: .instanceID),
            timestamp: Date(microsecondsSince1970: try container.decode(Int64.self, forKey: .timestamp)),
            streamID: try container.decodeIfPresent(StreamID.self, forKey: .streamID),
            executorName: try container.decodeIfPresent(String.self, forKey: .executorName),
            policyDecisions: try container.decodeIfPresent([PolicyDecision].self, forKey: .policyDecisions) ?? [],
            duration: try container.decodeIfPresent(Int64.self, forKey: .duration).map { .nanoseconds($0) },
            traceParent: try container.decodeIfPresent(TraceParent.self, forKey: .traceParent)
        )
    }

    /// Encodes the JSON object described above, leaving out absent values and an empty decision list.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(serviceName, forKey: .serviceName)
        try container.encode(instanceID, forKey: .instanceID)
        try container.encode(timestamp.microsecondsSince1970, forKey: .timestamp)
        try container.encodeIfPresent(streamID, forKey: .streamID)
        try container.encodeIfPresent(executorName, forKey: .executorName)
        if !policyDecisions.isEmpty {
            try container.encode(policyDecisions, forKey: .policyDecisions)
        }
        try container.encodeIfPresent(duration?.wholeNanoseconds, forKey: .duration)
        try container.encodeIfPresent(traceParent, forKey: .traceParent)
    }
}
