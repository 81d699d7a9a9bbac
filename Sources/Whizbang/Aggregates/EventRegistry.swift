#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Names, encodes and decodes an aggregate's events by stable type names, without runtime reflection.
///
/// Each stored event carries a type name (such as `"Deposited"`); the registry maps every name to the code that
/// decodes it, so a log of mixed event types decodes, and every event value back to its name and payload. Payloads
/// are JSON by default; a custom ``EventPayloadCodec`` can be registered for a faster path. Older stored shapes are
/// read through upcasters registered with ``upcasting(_:_:_:)``.
///
/// A registry is a value built once, usually as an aggregate's `static let events`. For an event enum whose cases
/// each carry an ``EventPayload``, ``init(_:)`` builds it from the case constructors, naming each kind after its
/// payload type.
public struct EventRegistry<Event: Sendable>: Sendable {
    struct Entry: Sendable {
        let name: String
        let encode: @Sendable (Event) throws -> Data?
        let decode: @Sendable (Data) throws -> Event
    }

    private(set) var entries: [Entry] = []
    private(set) var decoders: [String: @Sendable (Data) throws -> Event] = [:]
    private(set) var repeatedNames: Set<String> = []

    /// An empty registry.
    public init() {}

    /// The names this registry decodes, current and upcast.
    public var typeNames: Set<String> { Set(decoders.keys) }

    /// The names registered more than once in this registry — as two kinds of event, or as an event and an upcaster.
    /// Each is a programmer error: the later registration replaces the decoder of the earlier one. Empty in a sound
    /// registry; ``Dispatcher/checkEventNames()`` reports any.
    public var duplicateTypeNames: Set<String> { repeatedNames }

    /// Returns a registry that also encodes and decodes `payload` as JSON under `name`.
    ///
    /// - Parameters:
    ///   - name: the stable type name stored with the event. Never change it once events are stored.
    ///   - payload: the Codable type stored for this kind of event.
    ///   - embed: makes an event from a decoded payload (usually an enum case constructor).
    ///   - extract: returns the payload if an event is of this kind, else `nil`.
    public func registering<Payload: Codable & Sendable>(
        _ name: String,
        _ payload: Payload.Type,
        embed: @escaping @Sendable (Payload) -> Event,
        extract: @escaping @Sendable (Event) -> Payload?
    ) -> EventRegistry {
        registering(name, codec: JSONPayloadCodec<Payload>(), embed: embed, extract: extract)
    }

    /// Returns a registry that also encodes and decodes `Codec.Payload` with `codec` under `name`.
    public func registering<Codec: EventPayloadCodec>(
        _ name: String,
        codec: Codec,
        embed: @escaping @Sendable (Codec.Payload) -> Event,
        extract: @escaping @Sendable (Event) -> Codec.Payload?
    ) -> EventRegistry {
        var copy = self
        let decode: @Sendable (Data) throws -> Event = { data in embed(try codec.decode(data)) }
        copy.entries.append(
            Entry(
                name: name,
                encode: { event in try extract(event).map { try codec.encode($0) } },
                decode: decode
            ))
        if copy.decoders.updateValue(decode, forKey: name) != nil { copy.repeatedNames.insert(name) }
        return copy
    }

    /// Returns a registry that reads events stored under an old `name` and shape, converting them to a current
    /// event. New events are never written under `name`.
    ///
    /// `name` must be one no current kind of event uses: an upcaster under a current name would replace that
    /// kind's decoder. Such a name is listed in ``duplicateTypeNames`` and reported by
    /// ``Dispatcher/checkEventNames()``.
    public func upcasting<Old: Decodable & Sendable>(
        _ name: String,
        _ old: Old.Type,
        _ upcast: @escaping @Sendable (Old) throws -> Event
    ) -> EventRegistry {
        var copy = self
        let decode: @Sendable (Data) throws -> Event = { data in
            try upcast(try JSONDecoder().decode(Old.self, from: data))
        }
        if copy.decoders.updateValue(decode, forKey: name) != nil { copy.repeatedNames.insert(name) }
        return copy
    }

    /// The type name and encoded payload of `event`.
    ///
    /// - Throws: ``EventCodingError`` if no registered kind matches `event`, or the codec's error.
    public func encode(_ event: Event) throws -> (typeName: String, data: Data) {
        for entry in entries {
            if let data = try entry.encode(event) { return (entry.name, data) }
        }
        throw EventCodingError(.unregisteredEvent, typeName: "\(event)")
    }

    /// Decodes a stored event by its type name.
    ///
    /// - Throws: ``EventCodingError`` for an unknown type name, or the codec's error for a malformed payload.
    public func decode(typeName: String, data: Data) throws -> Event {
        guard let decode = decoders[typeName] else {
            throw EventCodingError(.unknownTypeName, typeName: typeName)
        }
        return try decode(data)
    }

    /// Decodes a stored event, reporting a failure with the event's place in the store.
    ///
    /// - Throws: ``EventDecodingError`` with the event's stream id, stream version, global position and type name,
    ///   wrapping the registry's ``EventCodingError`` (code ``EventDecodingError/Code/unknownTypeName``) or the error
    ///   of the codec or upcaster (code ``EventDecodingError/Code/undecodablePayload``).
    public func decode(_ event: RecordedEvent) throws(EventDecodingError) -> Event {
        guard let decode = decoders[event.eventType] else {
            throw EventDecodingError(
                .unknownTypeName, event: event,
                underlyingError: EventCodingError(.unknownTypeName, typeName: event.eventType))
        }
        do {
            return try decode(event.data)
        } catch {
            throw EventDecodingError(.undecodablePayload, event: event, underlyingError: error)
        }
    }
}

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

/// The JSON codec used by ``EventRegistry/registering(_:_:embed:extract:)``.
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

/// An event that could not be encoded or decoded.
public struct EventCodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value that can be compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unknownTypeName
            case unregisteredEvent
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A stored event's type name is not in the registry.
        public static let unknownTypeName = Code(.unknownTypeName)
        /// An event value matches no registered kind, so it cannot be written.
        public static let unregisteredEvent = Code(.unregisteredEvent)

        /// The code's name, such as `unknownTypeName`.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// The type name concerned: the stored name, or the event's Swift description for an unregistered event.
    public let typeName: String

    /// Creates the error.
    public init(_ code: Code, typeName: String) {
        self.code = code
        self.typeName = typeName
    }

    /// The code and the type name, in a sentence.
    public var description: String {
        switch code {
        case .unknownTypeName: "EventCodingError.unknownTypeName: no decoder is registered for '\(typeName)'"
        default: "EventCodingError.unregisteredEvent: no registered event type matches \(typeName)"
        }
    }
}
