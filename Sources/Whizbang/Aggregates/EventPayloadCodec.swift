#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Encodes and decodes one kind of event payload.
///
/// The default is JSON through Foundation's coders; a hand-written codec can be much faster for hot event types.
public protocol EventPayloadCodec: Sendable {
    /// The payload type.
    associatedtype Payload: Sendable
    /// Encodes a payload.
    func encode(_ payload: Payload) throws -> Data
    /// Decodes a payload.
    func decode(_ data: Data) throws -> Payload
}
