#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The JSON codec used by ``EventRegistry/registering(_:_:schemaVersion:embed:extract:)``.
public struct JSONPayloadCodec<Payload: Codable & Sendable>: EventPayloadCodec {
    private let encoder: JSONEncoder
    private let decoder = JSONDecoder()

    /// Creates the codec; it writes keys in sorted order, so equal payloads encode to equal bytes.
    public init() {
        encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
    }

    /// Encodes `payload` as JSON with sorted keys.
    ///
    /// - Throws: `EncodingError` if the payload does not encode.
    public func encode(_ payload: Payload) throws -> Data {
        try encoder.encode(payload)
    }

    /// Decodes a payload from JSON.
    ///
    /// - Throws: `DecodingError` if `data` is not JSON of the payload's shape.
    public func decode(_ data: Data) throws -> Payload {
        try decoder.decode(Payload.self, from: data)
    }
}
