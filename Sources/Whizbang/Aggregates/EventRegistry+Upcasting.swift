#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension EventRegistry {
    /// Returns a registry that reads events stored under `name` at `schemaVersion` as JSON of `Old`, and turns each
    /// into an event with `upcast`. Nothing is ever written at that version.
    ///
    /// Use it for the last step of an older shape: a retired name (an event type that was split, renamed or folded
    /// into another, whose stored events become one of the current kinds), or the version just below a name's
    /// current one when the upcaster builds the event itself. One stored event always reads as one event: stream
    /// versions count stored events, so an upcaster cannot turn one into two.
    ///
    /// - Parameters:
    ///   - name: the stored type name.
    ///   - schemaVersion: the stored version this upcaster reads. Default: 1, the version of every event stored
    ///     before its type's shape first changed.
    ///   - old: the stored shape.
    ///   - upcast: makes the current event from the stored value; an error it throws fails the decoding with
    ///     ``EventDecodingError/Code/undecodablePayload``.
    ///
    /// Stops the program when (`name`, `schemaVersion`) already has a decoder — `name`'s current version is
    /// `schemaVersion`, or another upcaster reads it — or when `schemaVersion` is above `name`'s current version (see
    /// the notes of ``EventRegistry``).
    public func upcasting<Old: Decodable & Sendable>(
        _ name: String,
        from schemaVersion: Int = 1,
        _ old: Old.Type,
        _ upcast: @escaping @Sendable (Old) throws -> Event
    ) -> EventRegistry {
        adding(
            Upcaster(
                input: RegisteredType(Old.self), output: nil,
                decode: { data in .event(try upcast(try JSONDecoder().decode(Old.self, from: data))) },
                accept: { value in try (value as? Old).map { .event(try upcast($0)) } }),
            name: name, schemaVersion: schemaVersion)
    }

    /// Returns a registry that reads events stored under `name` at `schemaVersion` as JSON of `Old`, and hands what
    /// `upcast` makes of each to version `schemaVersion + 1` of the same name. Nothing is ever written at that version.
    ///
    /// Upcasters chain: version 1 is upcast to what version 2 reads, that to what version 3 reads, and so on until
    /// the version that is current, whose kind of event (``registering(_:_:schemaVersion:embed:extract:)``) takes the
    /// value as its payload. Each step is written once, against the shape before and after it, and never changes
    /// after.
    ///
    /// ```swift
    /// static let events = EventRegistry<Event>()
    ///     .registering("MemberRegistered", MemberRegistered.self, schemaVersion: 3, embed: ..., extract: ...)
    ///     .upcasting("MemberRegistered", from: 2, MemberRegisteredV2.self, to: MemberRegistered.self) { ... }
    ///     .upcasting("MemberRegistered", from: 1, MemberRegisteredV1.self, to: MemberRegisteredV2.self) { ... }
    /// ```
    ///
    /// - Parameters:
    ///   - name: the stored type name.
    ///   - schemaVersion: the stored version this upcaster reads.
    ///   - old: the stored shape.
    ///   - next: the type that version `schemaVersion + 1` reads: the current payload type, or the `Old` of the
    ///     upcaster from that version.
    ///   - upcast: makes the next version's value from the stored one; an error it throws fails the decoding with
    ///     ``EventDecodingError/Code/undecodablePayload``.
    ///
    /// Stops the program as ``upcasting(_:from:_:_:)`` does, and also when version `schemaVersion + 1` is
    /// registered and reads a type other than `Next` (whichever is registered first). A chain that stops short — no
    /// decoder at `schemaVersion + 1` — cannot be seen while the registry is built; decoding an event that needs the
    /// missing link fails with ``EventDecodingError/Code/unknownSchemaVersion``.
    public func upcasting<Old: Decodable & Sendable, Next: Sendable>(
        _ name: String,
        from schemaVersion: Int,
        _ old: Old.Type,
        to next: Next.Type,
        _ upcast: @escaping @Sendable (Old) throws -> Next
    ) -> EventRegistry {
        let output = RegisteredType(Next.self)
        let nextVersion = VersionKey(name: name, schemaVersion: schemaVersion + 1)
        let nextInput = current[name].flatMap { $0.schemaVersion == schemaVersion + 1 ? $0.payload : nil }
            ?? upcasters[nextVersion]?.input
        if let nextInput {
            precondition(
                nextInput == output,
                "EventRegistry<\(Event.self)>: the upcaster from version \(schemaVersion) of '\(name)' returns "
                    + "\(output.name), but version \(schemaVersion + 1) reads \(nextInput.name)")
        }
        return adding(
            Upcaster(
                input: RegisteredType(Old.self), output: output,
                decode: { data in .next(try upcast(try JSONDecoder().decode(Old.self, from: data))) },
                accept: { value in try (value as? Old).map { .next(try upcast($0)) } }),
            name: name, schemaVersion: schemaVersion)
    }

    /// Adds an upcaster after the checks every upcaster shares.
    private func adding(_ upcaster: Upcaster, name: String, schemaVersion: Int) -> EventRegistry {
        Self.checkVersion(schemaVersion, of: name)
        let key = VersionKey(name: name, schemaVersion: schemaVersion)
        precondition(
            upcasters[key] == nil,
            "EventRegistry<\(Event.self)>: two upcasters read version \(schemaVersion) of '\(name)'")
        if let reader = current[name] {
            precondition(
                schemaVersion != reader.schemaVersion,
                "EventRegistry<\(Event.self)>: an upcaster is registered under '\(name)' at schema version "
                    + "\(schemaVersion), which is the version its current kind of event reads and writes; register "
                    + "the upcaster from the version below, or raise the kind's schemaVersion")
            precondition(
                schemaVersion < reader.schemaVersion,
                "EventRegistry<\(Event.self)>: an upcaster reads version \(schemaVersion) of '\(name)', above its "
                    + "current version \(reader.schemaVersion)")
        }
        checkLink(into: upcaster.input, name: name, schemaVersion: schemaVersion)
        var copy = self
        copy.upcasters[key] = upcaster
        copy.names.insert(name)
        return copy
    }
}
