#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

extension EnvelopeMetadata {
    /// The compact stored form of the metadata, as stores keep it beside an event recorded in `rowStreamID`: JSON
    /// that leaves out what a reader restores exactly (see <doc:StoredEnvelopeForm>).
    ///
    /// Compared with ``sortedKeysJSON()`` it leaves out a correlation id equal to the message id, the stream id when
    /// it is the event's own (`rowStreamID`), a hop's stream id equal to the envelope's, and spells a hop's default
    /// policy trail as a short code; hop times are microseconds after the envelope's. A default ledger envelope takes
    /// 193 bytes instead of 464. ``init(storedForm:rowStreamID:)`` reads it, and the full form too.
    ///
    /// - Parameter rowStreamID: the stream of the event the metadata is stored with, or `nil` when the bytes are
    ///   kept where no stream is known (the stream id, or null for none, is then always written out).
    public func storedForm(rowStreamID: StreamID?) -> Data {
        var writer = EnvelopeBytes(capacity: hops.isEmpty ? 96 : 96 + 160 * hops.count)
        writer.byte(UInt8(ascii: "{"))
        writer.key("v", first: true)
        writer.integer(Int64(StoredEnvelopeForm.version))
        writer.key("messageID")
        writer.id(messageID)
        if correlationID != messageID {
            writer.key("correlation")
            writer.id(correlationID)
        }
        if let causationID {
            writer.key("cause")
            writer.id(causationID)
        }
        // Left out only when it is the event's own stream; otherwise written out, as null when there is none.
        if rowStreamID == nil || streamID != rowStreamID {
            writer.key("stream")
            if let streamID { writer.string(streamID.rawValue) } else { writer.null() }
        }
        let time = timestamp.microsecondsSince1970
        writer.key("t")
        writer.integer(time)
        if !metadata.isEmpty {
            writer.key("meta")
            writer.stringsSortedByKey(metadata)
        }
        if !hops.isEmpty {
            writer.key("hops")
            writer.byte(UInt8(ascii: "["))
            for (index, hop) in hops.enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                writer.compactHop(hop, envelopeStreamID: streamID, envelopeTime: time)
            }
            writer.byte(UInt8(ascii: "]"))
        }
        writer.byte(UInt8(ascii: "}"))
        return writer.finish()
    }

    /// Reads metadata a store kept beside an event of `rowStreamID`: the binary form
    /// ``binaryStoredForm(rowStreamID:)`` writes, the compact JSON form ``storedForm(rowStreamID:)`` writes, or the
    /// full JSON form (``sortedKeysJSON()``, `JSONEncoder`) that earlier versions wrote; the first byte tells which.
    ///
    /// Each gives back exactly the envelope that was stored.
    ///
    /// - Parameters:
    ///   - storedForm: the stored bytes.
    ///   - rowStreamID: the stream of the event the bytes were stored with; the compact form takes the envelope's
    ///     stream from it when it leaves the stream out. `nil` when unknown: such bytes then read as having none.
    /// - Throws: `DecodingError` when the bytes are none of these forms (truncated, malformed, or with bits, codes or
    ///   versions this code does not know).
    public init(storedForm: Data, rowStreamID: StreamID?) throws {
        if storedForm.first == BinaryEnvelopeForm.marker {
            self = try BinaryEnvelopeForm.envelope(storedForm, rowStreamID: rowStreamID)
            return
        }
        let stored = try StoredEnvelopeForm.decoder.decode(StoredEnvelopeForm.self, from: storedForm)
        self = stored.envelope(rowStreamID: rowStreamID)
    }
}

/// The compact stored form of ``EnvelopeMetadata``, or the full one, as decoded; the envelope's stream waits for the
/// row's.
struct StoredEnvelopeForm: Decodable {
    /// The version of the compact form ``EnvelopeMetadata/storedForm(rowStreamID:)`` writes, under the key `v`.
    static let version = 1

    static let decoder = JSONDecoder()

    /// The default policy trails and their codes: what `PolicySet` decides when no rule matches.
    static let defaultTrails: [(code: String, decisions: [PolicyDecision])] = [ExecutionMode.serial, .parallel].map { mode in
        (
            mode == .serial ? "default" : "default-\(mode.rawValue)",
            [
                PolicyDecision(rule: "default", decision: "execution=\(mode.rawValue)"),
                PolicyDecision(rule: "default", decision: "maximumAttempts=10"),
                PolicyDecision(rule: "default", decision: "timeout=none"),
            ]
        )
    }

    /// A stream written out, written as null, or left out to mean another one.
    enum StoredStream {
        case inherited
        case none
        case named(StreamID)

        func resolved(_ inherited: StreamID?) -> StreamID? {
            switch self {
            case .inherited: inherited
            case .none: nil
            case .named(let streamID): streamID
            }
        }
    }

    struct StoredHop: Decodable {
        var service: String
        var instance: String
        var after: Int64
        var stream: StoredStream
        var executor: String?
        var decisions: [PolicyDecision]
        var duration: Int64?
        var traceParent: TraceParent?

        private enum CodingKeys: String, CodingKey {
            case service, instance, dt, stream, executor, policy, ns, trace
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            service = try container.decode(String.self, forKey: .service)
            instance = try container.decode(String.self, forKey: .instance)
            after = try container.decode(Int64.self, forKey: .dt)
            stream = try StoredEnvelopeForm.stream(in: container, forKey: .stream)
            executor = try container.decodeIfPresent(String.self, forKey: .executor)
            if !container.contains(.policy) {
                decisions = []
            } else if let code = try? container.decode(String.self, forKey: .policy) {
                guard let trail = StoredEnvelopeForm.defaultTrails.first(where: { $0.code == code }) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .policy, in: container, debugDescription: "unknown policy trail code '\(code)'")
                }
                decisions = trail.decisions
            } else {
                decisions = try container.decode([PolicyDecision].self, forKey: .policy)
            }
            duration = try container.decodeIfPresent(Int64.self, forKey: .ns)
            traceParent = try container.decodeIfPresent(TraceParent.self, forKey: .trace)
        }

        func hop(envelopeStreamID: StreamID?, envelopeTime: Int64) -> Hop {
            Hop(
                serviceName: service, instanceID: instance,
                timestamp: Date(microsecondsSince1970: envelopeTime &+ after),
                streamID: stream.resolved(envelopeStreamID), executorName: executor, policyDecisions: decisions,
                duration: duration.map { .nanoseconds($0) }, traceParent: traceParent)
        }
    }

    private enum CodingKeys: String, CodingKey {
        case v, messageID, correlation, cause, stream, t, meta, hops
    }

    /// The full form, when the bytes were written in it.
    private var full: EnvelopeMetadata?
    private var messageID = MessageID(high: 0, low: 0)
    private var correlationID: MessageID?
    private var causationID: MessageID?
    private var stream = StoredStream.inherited
    private var time: Int64 = 0
    private var metadata: [String: String] = [:]
    private var hops: [StoredHop] = []

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let version = try container.decodeIfPresent(Int.self, forKey: .v) else {
            full = try EnvelopeMetadata(from: decoder)
            return
        }
        guard version == Self.version else {
            throw DecodingError.dataCorruptedError(
                forKey: .v, in: container, debugDescription: "unknown stored envelope form version \(version)")
        }
        messageID = try container.decode(MessageID.self, forKey: .messageID)
        correlationID = try container.decodeIfPresent(MessageID.self, forKey: .correlation)
        causationID = try container.decodeIfPresent(MessageID.self, forKey: .cause)
        stream = try Self.stream(in: container, forKey: .stream)
        time = try container.decode(Int64.self, forKey: .t)
        metadata = try container.decodeIfPresent([String: String].self, forKey: .meta) ?? [:]
        hops = try container.decodeIfPresent([StoredHop].self, forKey: .hops) ?? []
    }

    func envelope(rowStreamID: StreamID?) -> EnvelopeMetadata {
        if let full { return full }
        let streamID = stream.resolved(rowStreamID)
        return EnvelopeMetadata(
            messageID: messageID, correlationID: correlationID, causationID: causationID, streamID: streamID,
            timestamp: Date(microsecondsSince1970: time), metadata: metadata,
            hops: hops.map { $0.hop(envelopeStreamID: streamID, envelopeTime: time) })
    }

    static func stream<Key: CodingKey>(in container: KeyedDecodingContainer<Key>, forKey key: Key) throws
        -> StoredStream
    {
        guard container.contains(key) else { return .inherited }
        if try container.decodeNil(forKey: key) { return .none }
        return .named(try container.decode(StreamID.self, forKey: key))
    }
}

extension EnvelopeBytes {
    /// `null`.
    mutating func null() {
        for character in "null".utf8 { byte(character) }
    }

    /// A ``Hop`` in the compact stored form: service, instance, dt, stream, executor, policy, ns, trace.
    mutating func compactHop(_ hop: Hop, envelopeStreamID: StreamID?, envelopeTime: Int64) {
        byte(UInt8(ascii: "{"))
        key("service", first: true)
        string(hop.serviceName)
        key("instance")
        string(hop.instanceID)
        key("dt")
        // Wrapping arithmetic: the reader adds it back with wrapping too, so any pair of times restores exactly.
        integer(hop.timestamp.microsecondsSince1970 &- envelopeTime)
        if hop.streamID != envelopeStreamID {
            key("stream")
            if let streamID = hop.streamID { string(streamID.rawValue) } else { null() }
        }
        if let executor = hop.executorName {
            key("executor")
            string(executor)
        }
        if !hop.policyDecisions.isEmpty {
            key("policy")
            if let trail = StoredEnvelopeForm.defaultTrails.first(where: { $0.decisions == hop.policyDecisions }) {
                string(trail.code)
            } else {
                decisions(hop.policyDecisions)
            }
        }
        if let duration = hop.duration {
            key("ns")
            integer(duration.wholeNanoseconds)
        }
        if let traceParent = hop.traceParent {
            key("trace")
            string(traceParent.description)
        }
        byte(UInt8(ascii: "}"))
    }
}
