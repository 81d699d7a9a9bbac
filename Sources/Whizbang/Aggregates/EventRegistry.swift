#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Names, encodes and decodes an aggregate's events by stable type names and schema versions, without runtime
/// reflection.
///
/// Each stored event carries a type name (such as `"Deposited"`) and the schema version of its shape (1 until the
/// shape first changes); the registry maps every (name, version) to the code that decodes it, so a log of mixed event
/// types and ages decodes, and every event value back to its name, its current version and its payload. Payloads are
/// JSON by default; a custom ``EventPayloadCodec`` can be registered for a faster path.
///
/// Older shapes are read through upcasters registered per (name, from-version) with ``upcasting(_:from:_:to:_:)``,
/// which chain: version 1 is upcast to version 2, that to version 3, and so on up to the current version, which the
/// kind's own decoder reads. Writing always uses the current version. See "Evolving your events" in the
/// documentation for a worked example.
///
/// A registry is a value built once, usually as an aggregate's `static let events`. For an event enum whose cases
/// each carry an ``EventPayload``, ``init(_:)`` builds it from the case constructors, naming each kind after its
/// payload type.
///
/// ## Registering a version twice stops the program
/// Registering two decoders for one (name, version) — two kinds of event under one name, or an upcaster under a
/// name's current version — is a programmer error, and the registering call stops the program with a message that
/// names the type name and version (a `precondition`), when the registry is built. A registry is built from
/// constants in code, usually once as a `static let`, so the error shows on the first run of any test that touches
/// the aggregate; it is never a condition a running service could recover from, and a throwing builder would only
/// put a `try!` in front of every registry. The same holds for an upcaster whose result type is not what the next
/// version reads, and for an upcaster from a version at or above the name's current one.
public struct EventRegistry<Event: Sendable>: Sendable {
    /// A kind of event this registry writes.
    struct Entry: Sendable {
        let name: String
        let schemaVersion: Int
        let encode: @Sendable (Event) throws -> Data?
    }

    /// How the current version of a name is read.
    struct CurrentReader: Sendable {
        let schemaVersion: Int
        let payload: RegisteredType
        let decode: @Sendable (Data) throws -> Event
        /// Makes the event from the value that the upcaster from the version below returned; `nil` when the value is
        /// not a payload of this kind.
        let embed: @Sendable (any Sendable) -> Event?
    }

    /// How an older version of a name is read: decoded as its old type, then upcast.
    struct Upcaster: Sendable {
        /// The old type, decoded from the stored bytes.
        let input: RegisteredType
        /// The type handed to the next version, or `nil` for an upcaster that returns the event itself.
        let output: RegisteredType?
        let decode: @Sendable (Data) throws -> UpcastStep
        /// Upcasts the value that the upcaster from the version below returned; `nil` when it is not of the old type.
        let accept: @Sendable (any Sendable) throws -> UpcastStep?
    }

    /// What one upcaster returns: the event, or the value the next version reads.
    enum UpcastStep: Sendable {
        case event(Event)
        case next(any Sendable)
    }

    /// A type name and one of its schema versions.
    struct VersionKey: Hashable, Sendable {
        let name: String
        let schemaVersion: Int
    }

    /// A Swift type, compared by identity and named in messages.
    struct RegisteredType: Equatable, Sendable {
        let identifier: ObjectIdentifier
        let name: String

        init<T>(_ type: T.Type) {
            identifier = ObjectIdentifier(type)
            name = String(reflecting: type)
        }

        static func == (lhs: RegisteredType, rhs: RegisteredType) -> Bool { lhs.identifier == rhs.identifier }
    }

    // Internal, not private: the upcasting extension adds to them.
    var entries: [Entry] = []
    var current: [String: CurrentReader] = [:]
    var upcasters: [VersionKey: Upcaster] = [:]
    var names: Set<String> = []

    /// An empty registry.
    public init() {}

    /// The names this registry decodes, current and upcast.
    public var typeNames: Set<String> { names }

    /// The schema version this registry writes for `typeName`, or `nil` when it writes no event of that name.
    public func currentSchemaVersion(of typeName: String) -> Int? {
        current[typeName]?.schemaVersion
    }

    /// Always empty: a name registered twice for one schema version stops the program when the registry is built
    /// (see the type's notes), and one name at two versions is how an event's shape evolves.
    @available(*, deprecated, message: "a (name, version) registered twice stops the program when it is registered")
    public var duplicateTypeNames: Set<String> { [] }

    /// Returns a registry that also encodes and decodes `payload` as JSON under `name`, at `schemaVersion`.
    ///
    /// - Parameters:
    ///   - name: the stable type name stored with the event. Never change it once events are stored.
    ///   - payload: the Codable type stored for this kind of event.
    ///   - schemaVersion: the version of the payload's shape, written with every new event. Raise it when the shape
    ///     changes and register an upcaster from the version before. Default: 1.
    ///   - embed: makes an event from a decoded payload (usually an enum case constructor).
    ///   - extract: returns the payload if an event is of this kind, else `nil`.
    ///
    /// Stops the program when `name` is registered already as a kind of event, or has an upcaster from
    /// `schemaVersion` or above (see the type's notes).
    public func registering<Payload: Codable & Sendable>(
        _ name: String,
        _ payload: Payload.Type,
        schemaVersion: Int = 1,
        embed: @escaping @Sendable (Payload) -> Event,
        extract: @escaping @Sendable (Event) -> Payload?
    ) -> EventRegistry {
        registering(
            name, schemaVersion: schemaVersion, codec: JSONPayloadCodec<Payload>(), embed: embed, extract: extract)
    }

    /// Returns a registry that also encodes and decodes `Codec.Payload` with `codec` under `name`, at
    /// `schemaVersion` (default 1).
    ///
    /// Stops the program when `name` is registered already as a kind of event, or has an upcaster from
    /// `schemaVersion` or above (see the type's notes).
    public func registering<Codec: EventPayloadCodec>(
        _ name: String,
        schemaVersion: Int = 1,
        codec: Codec,
        embed: @escaping @Sendable (Codec.Payload) -> Event,
        extract: @escaping @Sendable (Event) -> Codec.Payload?
    ) -> EventRegistry {
        Self.checkVersion(schemaVersion, of: name)
        precondition(
            current[name] == nil,
            "EventRegistry<\(Event.self)>: the event type name '\(name)' is registered twice as a kind of event")
        if let newest = upcasters.keys.filter({ $0.name == name }).map(\.schemaVersion).max() {
            precondition(
                newest < schemaVersion,
                "EventRegistry<\(Event.self)>: '\(name)' is registered at schema version \(schemaVersion), but an "
                    + "upcaster reads version \(newest) of it: upcasters read only versions below the current one")
        }
        let payload = RegisteredType(Codec.Payload.self)
        checkLink(into: payload, name: name, schemaVersion: schemaVersion)
        var copy = self
        copy.entries.append(
            Entry(
                name: name, schemaVersion: schemaVersion,
                encode: { event in try extract(event).map { try codec.encode($0) } }))
        copy.current[name] = CurrentReader(
            schemaVersion: schemaVersion, payload: payload,
            decode: { data in embed(try codec.decode(data)) },
            embed: { value in (value as? Codec.Payload).map(embed) })
        copy.names.insert(name)
        return copy
    }

    /// Stops the program for a schema version that no store can hold.
    static func checkVersion(_ schemaVersion: Int, of name: String) {
        precondition(
            EventStoreValidation.validSchemaVersions.contains(schemaVersion),
            "EventRegistry<\(Event.self)>: schema version \(schemaVersion) of '\(name)' is out of range; versions run "
                + "from 1 to \(EventStoreValidation.validSchemaVersions.upperBound)")
    }

    /// Stops the program when the upcaster from the version below `schemaVersion` hands on a type other than
    /// `input`, the type that `schemaVersion` reads.
    func checkLink(into input: RegisteredType, name: String, schemaVersion: Int) {
        guard let below = upcasters[VersionKey(name: name, schemaVersion: schemaVersion - 1)],
            let output = below.output
        else { return }
        precondition(
            output == input,
            "EventRegistry<\(Event.self)>: the upcaster from version \(schemaVersion - 1) of '\(name)' returns "
                + "\(output.name), but version \(schemaVersion) reads \(input.name)")
    }

    /// The stored form of `event`: its type name, the current schema version of that name, and the encoded payload,
    /// as an ``EventData`` ready to append.
    ///
    /// - Parameters:
    ///   - event: the event to encode.
    ///   - eventID: the event's id. Default: a new one.
    ///   - metadata: the encoded envelope without its payload. Default: empty.
    /// - Throws: ``EventCodingError`` if no registered kind matches `event`, or the codec's error.
    public func eventData(for event: Event, eventID: MessageID = MessageID(), metadata: Data = Data()) throws
        -> EventData
    {
        for entry in entries {
            if let data = try entry.encode(event) {
                return EventData(
                    eventID: eventID, eventType: entry.name, schemaVersion: entry.schemaVersion, data: data,
                    metadata: metadata)
            }
        }
        throw EventCodingError(.unregisteredEvent, typeName: "\(event)")
    }

    /// The type name and encoded payload of `event`, without its schema version.
    ///
    /// - Throws: ``EventCodingError`` if no registered kind matches `event`, or the codec's error.
    @available(*, deprecated, message: "use eventData(for:eventID:metadata:), which carries the schema version")
    public func encode(_ event: Event) throws -> (typeName: String, data: Data) {
        let encoded = try eventData(for: event)
        return (encoded.eventType, encoded.data)
    }

    /// Decodes an event stored under `typeName` at `schemaVersion`, through the upcasters from that version to the
    /// current one.
    ///
    /// - Throws: ``EventCodingError`` — `unknownTypeName` for a name this registry does not decode,
    ///   `unknownSchemaVersion` for a version of it that it does not — or the error of the codec or an upcaster.
    public func decode(typeName: String, schemaVersion: Int, data: Data) throws -> Event {
        if let reader = current[typeName], reader.schemaVersion == schemaVersion {
            return try reader.decode(data)
        }
        return try decodeOlder(typeName: typeName, schemaVersion: schemaVersion, data: data)
    }

    /// The decoder of the events stored under `typeName` at `schemaVersion`, found once: calling it with a payload
    /// does what ``decode(typeName:schemaVersion:data:)`` does for that name and version, without looking the name
    /// up again.
    ///
    /// For a consumer that decodes many events of a few kinds, such as a replay of the log: it resolves each name and
    /// version it meets once, instead of hashing the name for every event.
    ///
    /// - Throws: ``EventCodingError`` — `unknownTypeName` for a name this registry does not decode,
    ///   `unknownSchemaVersion` for a version of it that it does not — as ``decode(typeName:schemaVersion:data:)``
    ///   throws for any payload of that name and version. The decoder itself throws the error of the codec or an
    ///   upcaster.
    public func decoder(typeName: String, schemaVersion: Int) throws -> @Sendable (Data) throws -> Event {
        if let reader = current[typeName], reader.schemaVersion == schemaVersion { return reader.decode }
        _ = try firstUpcaster(typeName: typeName, schemaVersion: schemaVersion)
        return { [self] data in try decodeOlder(typeName: typeName, schemaVersion: schemaVersion, data: data) }
    }

    /// Decodes an event stored under `typeName` at the schema version this registry writes for that name, or at
    /// version 1 for a name it only reads.
    ///
    /// - Throws: ``EventCodingError`` for an unknown type name, or the codec's error for a malformed payload.
    @available(*, deprecated, message: "use decode(_:) or decode(typeName:schemaVersion:data:)")
    public func decode(typeName: String, data: Data) throws -> Event {
        try decode(typeName: typeName, schemaVersion: current[typeName]?.schemaVersion ?? 1, data: data)
    }

    /// Decodes a stored event, reporting a failure with the event's place in the store.
    ///
    /// - Throws: ``EventDecodingError`` with the event's stream id, stream version, global position, type name and
    ///   schema version, wrapping the registry's ``EventCodingError`` (codes
    ///   ``EventDecodingError/Code/unknownTypeName`` and ``EventDecodingError/Code/unknownSchemaVersion``) or the error of the codec or an upcaster (code
    ///   ``EventDecodingError/Code/undecodablePayload``).
    public func decode(_ event: RecordedEvent) throws(EventDecodingError) -> Event {
        do {
            return try decode(typeName: event.eventType, schemaVersion: event.schemaVersion, data: event.data)
        } catch let error as EventCodingError where error.code == .unknownTypeName {
            throw EventDecodingError(.unknownTypeName, event: event, underlyingError: error)
        } catch let error as EventCodingError where error.code == .unknownSchemaVersion {
            throw EventDecodingError(.unknownSchemaVersion, event: event, underlyingError: error)
        } catch {
            throw EventDecodingError(.undecodablePayload, event: event, underlyingError: error)
        }
    }

    /// Reads a version below the current one (or of a name with no current kind) through its chain of upcasters.
    private func decodeOlder(typeName: String, schemaVersion: Int, data: Data) throws -> Event {
        var step = try firstUpcaster(typeName: typeName, schemaVersion: schemaVersion).decode(data)
        var version = schemaVersion
        while case .next(let value) = step {
            version += 1
            if let reader = current[typeName], reader.schemaVersion == version, let event = reader.embed(value) {
                return event
            }
            guard let upcaster = upcasters[VersionKey(name: typeName, schemaVersion: version)],
                let next = try upcaster.accept(value)
            else {
                throw EventCodingError(
                    .unknownSchemaVersion, typeName: typeName, schemaVersion: version,
                    detail: "the upcaster from version \(version - 1) hands on a value that nothing at version "
                        + "\(version) reads")
            }
            step = next
        }
        guard case .event(let event) = step else { preconditionFailure("the loop above ends only with an event") }
        return event
    }

    /// The upcaster that reads `typeName` at `schemaVersion`, the first of its chain to the current version.
    ///
    /// - Throws: ``EventCodingError`` — `unknownTypeName` for a name this registry does not decode, else
    ///   `unknownSchemaVersion`.
    private func firstUpcaster(typeName: String, schemaVersion: Int) throws -> Upcaster {
        guard let first = upcasters[VersionKey(name: typeName, schemaVersion: schemaVersion)] else {
            guard names.contains(typeName) else { throw EventCodingError(.unknownTypeName, typeName: typeName) }
            throw EventCodingError(
                .unknownSchemaVersion, typeName: typeName, schemaVersion: schemaVersion,
                detail: "no decoder or upcaster reads that version")
        }
        return first
    }
}
