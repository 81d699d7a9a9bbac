#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import Whizbang

/// How a result is kept in the inbox's `outcome` column.
///
/// A node stores results in the form its cluster's `settings` name
/// (``ClusterSchema/prepare(_:partitionCount:logger:)``): the binary form below in a cluster created by this version,
/// JSON in one created before, until its operator switches it. A client reads both. The first byte tells them apart:
/// a JSON object starts with `{` (0x7B).
///
/// | bytes | field |
/// |---|---|
/// | 1 | the form: 1 |
/// | 1 | the outcome: 1 accepted, 2 rejected, 3 failed (the values of the row's `status`) |
/// | 16 | the message id, its ``MessageID/high`` then ``MessageID/low`` half, big-endian |
/// | 8 | the stream version after the command, big-endian |
/// | 4 | the number of events stored, big-endian |
/// | 4 + n | the node's id: its length n in bytes, big-endian, then its UTF-8 |
/// | 4 + n | the reason, as the node's id; the length 0xFFFFFFFF and no bytes when there is none |
/// | 4 + n | the aggregate's state as JSON, as the reason |
///
/// Writing the state's JSON as it is, not inside another JSON document, saves the node a JSON encoding and a Base64
/// encoding per command, and the client their decodings.
extension ClusterCommandResult {
    /// The forms in which a node stores results, as the cluster's `settings` row `result_form` names them.
    enum StoredForm: Int64, Sendable {
        /// A JSON object, as nodes before the binary form wrote.
        case json = 0
        /// The binary form above.
        case binary = 1
    }

    /// The length that marks an absent field.
    private static let absent = UInt32.max
    /// The bytes before the fields of variable length, and their three lengths.
    private static let fixedBytes = 30 + 3 * 4

    /// The result in `form`.
    ///
    /// - Throws: ``ClusterError/Code/commandFailed`` when the event count is negative or a field is 4 GiB or longer
    ///   (PostgreSQL would refuse it anyway: a `bytea` value holds at most 1 GiB), or JSON's encoding error.
    func stored(as form: StoredForm) throws(ClusterError) -> ByteBuffer {
        switch form {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            do {
                return ByteBuffer(bytes: try encoder.encode(self))
            } catch {
                throw ClusterError(
                    .commandFailed, message: "the result of command \(messageID) does not encode: \(error)")
            }
        case .binary:
            guard let eventCount = UInt32(exactly: eventCount) else {
                throw ClusterError(
                    .commandFailed, message: "the result of command \(messageID) counts \(eventCount) events")
            }
            var buffer = ByteBuffer()
            buffer.reserveCapacity(Self.fixedBytes + node.utf8.count + (reason?.utf8.count ?? 0) + (state?.count ?? 0))
            buffer.writeInteger(UInt8(form.rawValue))
            buffer.writeInteger(UInt8(status))
            buffer.writeInteger(messageID.high)
            buffer.writeInteger(messageID.low)
            buffer.writeInteger(streamVersion)
            buffer.writeInteger(eventCount)
            try Self.writeField(node.utf8, to: &buffer)
            try Self.writeField(reason?.utf8, to: &buffer)
            try Self.writeField(state, to: &buffer)
            return buffer
        }
    }

    /// Reads a result stored in either form.
    ///
    /// - Throws: ``ClusterError/Code/malformedResult`` when `stored` is in neither form, its node or reason is not
    ///   UTF-8, or it counts events no command stores (``checkEventCount()``).
    init(stored: ByteBuffer) throws(ClusterError) {
        var buffer = stored
        guard let form = buffer.readInteger(as: UInt8.self) else {
            throw ClusterError(.malformedResult, message: "a stored command result is empty")
        }
        if form == UInt8(ascii: "{") {
            do {
                self = try JSONDecoder().decode(ClusterCommandResult.self, from: Data(stored.readableBytesView))
            } catch {
                throw ClusterError(
                    .malformedResult, message: "a stored command result in JSON does not decode: \(error)")
            }
            try checkEventCount()
            return
        }
        guard Int64(form) == StoredForm.binary.rawValue else {
            throw ClusterError(.malformedResult, message: "a stored command result has the unknown form \(form)")
        }
        guard let status = buffer.readInteger(as: UInt8.self), let high = buffer.readInteger(as: UInt64.self),
            let low = buffer.readInteger(as: UInt64.self), let streamVersion = buffer.readInteger(as: UInt64.self),
            let eventCount = buffer.readInteger(as: UInt32.self)
        else { throw Self.truncated }
        let outcome: Outcome
        switch status {
        case 1: outcome = .accepted
        case 2: outcome = .rejected
        case 3: outcome = .failed
        default: throw ClusterError(.malformedResult, message: "a stored command result has the outcome \(status)")
        }
        guard let node = try Self.readText(from: &buffer, field: "node") else {
            throw ClusterError(.malformedResult, message: "a stored command result names no node")
        }
        let reason = try Self.readText(from: &buffer, field: "reason")
        let state = try Self.readField(from: &buffer)
        guard buffer.readableBytes == 0 else {
            throw ClusterError(
                .malformedResult, message: "a stored command result has \(buffer.readableBytes) bytes after its end")
        }
        self.init(
            messageID: MessageID(high: high, low: low), outcome: outcome, streamVersion: streamVersion,
            eventCount: Int(eventCount), reason: reason, state: state, node: node)
        try checkEventCount()
    }

    /// Refuses an event count that no command stores: below 0, past the stream's version (a command's events are
    /// in its stream), or past ``maximumStoredEventCount``. ``eventIDs`` makes an id for each, so a count changed
    /// by hand would otherwise have a client allocate gigabytes, or trap.
    private func checkEventCount() throws(ClusterError) {
        guard eventCount >= 0, UInt64(eventCount) <= streamVersion, eventCount <= Self.maximumStoredEventCount else {
            throw ClusterError(
                .malformedResult,
                message: "a stored command result counts \(eventCount) events at stream version \(streamVersion)")
        }
    }

    /// The most events a stored result may count: more than one append can hold (an append is at most 768 MiB,
    /// and an event takes at least 64 bytes of it).
    static let maximumStoredEventCount = 1 << 24

    private static let truncated = ClusterError(.malformedResult, message: "a stored command result is cut short")

    private static func writeField<Bytes: Collection<UInt8>>(_ bytes: Bytes?, to buffer: inout ByteBuffer)
        throws(ClusterError)
    {
        guard let bytes else {
            buffer.writeInteger(absent)
            return
        }
        guard let length = UInt32(exactly: bytes.count), length != absent else {
            throw ClusterError(.commandFailed, message: "a command's result has a field of \(bytes.count) bytes")
        }
        buffer.writeInteger(length)
        buffer.writeBytes(bytes)
    }

    private static func readField(from buffer: inout ByteBuffer) throws(ClusterError) -> Data? {
        guard let length = buffer.readInteger(as: UInt32.self) else { throw truncated }
        if length == absent { return nil }
        guard let bytes = buffer.readSlice(length: Int(length)) else { throw truncated }
        return Data(bytes.readableBytesView)
    }

    private static func readText(from buffer: inout ByteBuffer, field: String) throws(ClusterError) -> String? {
        guard let bytes = try readField(from: &buffer) else { return nil }
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw ClusterError(.malformedResult, message: "the \(field) of a stored command result is not UTF-8")
        }
        return text
    }
}
