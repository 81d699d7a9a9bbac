#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The layout of the binary stored form: its first byte and the bits of its flag bytes (see <doc:StoredEnvelopeForm>).
enum BinaryEnvelopeForm {
    /// The first byte of the binary form, version 1. No JSON text starts with it: it is not `{` nor white space, and
    /// not even a valid first byte of UTF-8.
    static let marker: UInt8 = 0xB1

    // Envelope flags.
    static let correlation: UInt8 = 0x01
    static let causation: UInt8 = 0x02
    static let stream: UInt8 = 0x04
    static let noStream: UInt8 = 0x08
    static let metadata: UInt8 = 0x10
    static let hops: UInt8 = 0x20
    static let envelopeFlags: UInt8 = 0x3F

    // Hop flags.
    static let hopStream: UInt8 = 0x01
    static let hopNoStream: UInt8 = 0x02
    static let executor: UInt8 = 0x04
    static let trailCode: UInt8 = 0x08
    static let decisions: UInt8 = 0x10
    static let duration: UInt8 = 0x20
    static let traceParent: UInt8 = 0x40
    static let hopFlags: UInt8 = 0x7F

    /// Reads the binary form; the envelope's stream, when left out, is `rowStreamID`.
    static func envelope(_ data: Data, rowStreamID: StreamID?) throws -> EnvelopeMetadata {
        try data.withUnsafeBytes { bytes in
            var reader = BinaryEnvelopeReader(bytes, from: 1)
            let flags = try reader.byte("the envelope's flags")
            try Self.check(
                flags, allowed: Self.envelopeFlags, stream: Self.stream, noStream: Self.noStream, of: "the envelope")
            let messageID = try reader.id("the message id")
            let correlationID = flags & Self.correlation != 0 ? try reader.id("the correlation id") : nil
            let causationID = flags & Self.causation != 0 ? try reader.id("the causation id") : nil
            let streamID = try Self.stream(
                &reader, flags, Self.stream, Self.noStream, inherited: rowStreamID, of: "the envelope")
            let time = try reader.signedVarint("the timestamp")
            var metadata: [String: String] = [:]
            if flags & Self.metadata != 0 {
                let count = try reader.count("the number of metadata entries", minimumBytesEach: 2)
                guard count > 0 else {
                    throw BinaryEnvelopeReader.corrupted("the metadata flag is set, with no entries")
                }
                metadata.reserveCapacity(count)
                for index in 0..<count {
                    let key = try reader.string("metadata key \(index)")
                    guard metadata.updateValue(try reader.string("metadata value \(index)"), forKey: key) == nil else {
                        throw BinaryEnvelopeReader.corrupted("metadata key '\(key)' appears twice")
                    }
                }
            }
            var hops: [Hop] = []
            if flags & Self.hops != 0 {
                let count = try reader.count("the number of hops", minimumBytesEach: 4)
                guard count > 0 else { throw BinaryEnvelopeReader.corrupted("the hops flag is set, with no hops") }
                hops.reserveCapacity(count)
                for index in 0..<count {
                    hops.append(try Self.hop(&reader, index: index, envelopeStreamID: streamID, envelopeTime: time))
                }
            }
            try reader.finish()
            return EnvelopeMetadata(
                messageID: messageID, correlationID: correlationID, causationID: causationID, streamID: streamID,
                timestamp: Date(microsecondsSince1970: time), metadata: metadata, hops: hops)
        }
    }

    private static func hop(
        _ reader: inout BinaryEnvelopeReader, index: Int, envelopeStreamID: StreamID?, envelopeTime: Int64
    ) throws -> Hop {
        let flags = try reader.byte("the flags of hop \(index)")
        try Self.check(
            flags, allowed: Self.hopFlags, stream: Self.hopStream, noStream: Self.hopNoStream, of: "hop \(index)")
        guard flags & Self.trailCode == 0 || flags & Self.decisions == 0 else {
            throw BinaryEnvelopeReader.corrupted("hop \(index) has both a trail code and a list of decisions")
        }
        let service = try reader.string("the service of hop \(index)")
        let instance = try reader.string("the instance of hop \(index)")
        let after = try reader.signedVarint("the time of hop \(index)")
        let streamID = try Self.stream(
            &reader, flags, Self.hopStream, Self.hopNoStream, inherited: envelopeStreamID, of: "hop \(index)")
        let executor = flags & Self.executor != 0 ? try reader.string("the executor of hop \(index)") : nil
        var policyDecisions: [PolicyDecision] = []
        if flags & Self.trailCode != 0 {
            let code = Int(try reader.byte("the trail code of hop \(index)"))
            guard (1...StoredEnvelopeForm.defaultTrails.count).contains(code) else {
                throw BinaryEnvelopeReader.corrupted("hop \(index) names unknown policy trail code \(code)")
            }
            policyDecisions = StoredEnvelopeForm.defaultTrails[code - 1].decisions
        } else if flags & Self.decisions != 0 {
            let count = try reader.count("the number of decisions of hop \(index)", minimumBytesEach: 2)
            policyDecisions.reserveCapacity(count)
            for decision in 0..<count {
                let rule = try reader.string("the rule of decision \(decision) of hop \(index)")
                policyDecisions.append(
                    PolicyDecision(rule: rule, decision: try reader.string("decision \(decision) of hop \(index)")))
            }
        }
        let duration = flags & Self.duration != 0 ? try reader.signedVarint("the duration of hop \(index)") : nil
        var trace: TraceParent?
        if flags & Self.traceParent != 0 {
            let text = try reader.string("the trace parent of hop \(index)")
            guard let parsed = TraceParent(text) else {
                throw BinaryEnvelopeReader.corrupted("the trace parent of hop \(index) is not valid: '\(text)'")
            }
            trace = parsed
        }
        return Hop(
            serviceName: service, instanceID: instance, timestamp: Date(microsecondsSince1970: envelopeTime &+ after),
            streamID: streamID, executorName: executor, policyDecisions: policyDecisions,
            duration: duration.map { .nanoseconds($0) }, traceParent: trace)
    }

    /// Refuses flags this version does not know, and "no stream" without "stream written".
    private static func check(
        _ flags: UInt8, allowed: UInt8, stream: UInt8, noStream: UInt8, of what: @autoclosure () -> String
    ) throws {
        guard flags & ~allowed == 0 else {
            throw BinaryEnvelopeReader.corrupted("the flags of \(what()) have unknown bits (\(flags))")
        }
        guard flags & noStream == 0 || flags & stream != 0 else {
            throw BinaryEnvelopeReader.corrupted("the flags of \(what()) say 'no stream' without 'stream written'")
        }
    }

    /// The stream the flags say: written out, none, or `inherited`.
    private static func stream(
        _ reader: inout BinaryEnvelopeReader, _ flags: UInt8, _ written: UInt8, _ none: UInt8,
        inherited: StreamID?, of what: @autoclosure () -> String
    ) throws -> StreamID? {
        guard flags & written != 0 else { return inherited }
        guard flags & none == 0 else { return nil }
        return StreamID(try reader.string("the stream of \(what())"))
    }
}

extension EnvelopeBytes {
    /// A ``Hop`` in the binary stored form: flags, service, instance, time after the envelope's, then the stream,
    /// executor, policy, duration and trace parent that the flags announce.
    mutating func binaryHop(_ hop: Hop, envelopeStreamID: StreamID?, envelopeTime: Int64) {
        typealias Form = BinaryEnvelopeForm
        let trail = hop.policyDecisions.isEmpty
            ? nil : StoredEnvelopeForm.defaultTrails.firstIndex { $0.decisions == hop.policyDecisions }
        var flags: UInt8 = 0
        if hop.streamID != envelopeStreamID {
            flags |= hop.streamID == nil ? Form.hopStream | Form.hopNoStream : Form.hopStream
        }
        if hop.executorName != nil { flags |= Form.executor }
        if trail != nil {
            flags |= Form.trailCode
        } else if !hop.policyDecisions.isEmpty {
            flags |= Form.decisions
        }
        if hop.duration != nil { flags |= Form.duration }
        if hop.traceParent != nil { flags |= Form.traceParent }
        byte(flags)
        lengthPrefixed(hop.serviceName)
        lengthPrefixed(hop.instanceID)
        // Wrapping arithmetic, as in the JSON form: the reader adds it back wrapping, so any pair of times restores.
        signedVarint(hop.timestamp.microsecondsSince1970 &- envelopeTime)
        if hop.streamID != envelopeStreamID, let streamID = hop.streamID { lengthPrefixed(streamID.rawValue) }
        if let executor = hop.executorName { lengthPrefixed(executor) }
        if let trail {
            byte(UInt8(trail + 1))
        } else if !hop.policyDecisions.isEmpty {
            varint(UInt64(hop.policyDecisions.count))
            for decision in hop.policyDecisions {
                lengthPrefixed(decision.rule)
                lengthPrefixed(decision.decision)
            }
        }
        if let duration = hop.duration { signedVarint(duration.wholeNanoseconds) }
        if let traceParent = hop.traceParent { lengthPrefixed(traceParent.description) }
    }
}
