#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import Whizbang

/// How a result is kept in the inbox's `outcome` column.
///
/// Nodes of this version write a binary form; nodes of earlier versions wrote the result as a JSON object, which a
/// client still reads. The first byte tells them apart: a JSON object starts with `{` (0x7B).
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
    /// The first byte of the binary form.
    static let binaryForm: UInt8 = 1
    /// The length that marks an absent field.
    private static let absent = UInt32.max

    /// The result in its stored form, written into `buffer`.
    ///
    /// - Throws: ``ClusterError/Code/commandFailed`` when a field is 4 GiB or longer (PostgreSQL would refuse it
    ///   anyway: a `bytea` value holds at most 1 GiB).
    func write(to buffer: inout ByteBuffer) throws {
        buffer.writeInteger(Self.binaryForm)
        buffer.writeInteger(UInt8(status))
        buffer.writeInteger(messageID.high)
        buffer.writeInteger(messageID.low)
        buffer.writeInteger(streamVersion)
        buffer.writeInteger(UInt32(clamping: eventCount))
        try Self.writeField(Array(node.utf8), to: &buffer)
        try Self.writeField(reason.map { Array($0.utf8) }, to: &buffer)
        try Self.writeField(state, to: &buffer)
    }

    /// The result in its stored form.
    func storedForm() throws -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(40 + node.utf8.count + (reason?.utf8.count ?? 0) + (state?.count ?? 0))
        try write(to: &buffer)
        return buffer
    }

    /// Reads a result stored by a node of this or an earlier version.
    ///
    /// - Throws: ``ClusterError/Code/malformedResult`` when `stored` is in neither form.
    init(stored: ByteBuffer) throws(ClusterError) {
        var buffer = stored
        guard let form = buffer.readInteger(as: UInt8.self) else {
            throw ClusterError(.malformedResult, message: "a stored command result is empty")
        }
        if form == UInt8(ascii: "{") {
            do {
                self = try JSONDecoder().decode(ClusterCommandResult.self, from: Data(stored.readableBytesView))
            } catch {
                throw ClusterError(.malformedResult, message: "a stored command result in JSON does not decode: \(error)")
            }
            return
        }
        guard form == Self.binaryForm else {
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
        guard let node = try Self.readField(from: &buffer) else {
            throw ClusterError(.malformedResult, message: "a stored command result names no node")
        }
        let reason = try Self.readField(from: &buffer)
        let state = try Self.readField(from: &buffer)
        guard buffer.readableBytes == 0 else {
            throw ClusterError(
                .malformedResult, message: "a stored command result has \(buffer.readableBytes) bytes after its end")
        }
        self.init(
            messageID: MessageID(high: high, low: low), outcome: outcome, streamVersion: streamVersion,
            eventCount: Int(eventCount), reason: reason.map { String(decoding: $0, as: UTF8.self) }, state: state,
            node: String(decoding: node, as: UTF8.self))
    }

    private static let truncated = ClusterError(.malformedResult, message: "a stored command result is cut short")

    private static func writeField<Bytes: Collection<UInt8>>(_ bytes: Bytes?, to buffer: inout ByteBuffer) throws {
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
}
