#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Whizbang

/// The aggregate types a cluster runs, each under a stable name that travels with its commands through the inbox.
///
/// Build one value and give it to every ``ClusterNode`` and ``ClusterClient``:
///
/// ```swift
/// let aggregates = ClusterAggregates()
///     .registering(Account.self, name: "Account", commands: JSONCommandCodec<Account.Command>())
/// ```
///
/// A node that meets a command for a name it does not know records it as failed
/// (``ClusterError/Code/unregisteredAggregate``) and goes on; a client refuses to send one.
public struct ClusterAggregates: Sendable {
    private(set) var byName: [String: RegisteredAggregate] = [:]
    private var names: [ObjectIdentifier: String] = [:]

    /// An empty registry.
    public init() {}

    /// The registered names.
    public var registeredNames: Set<String> { Set(byName.keys) }

    /// Returns a registry that also runs `aggregate` under `name`, its commands encoded by `commands`.
    ///
    /// - Parameters:
    ///   - aggregate: the aggregate type.
    ///   - name: the stable name stored with each command; never change it while commands may wait in the inbox.
    ///   - commands: the codec of the aggregate's commands, the same on every node and client.
    public func registering<A: Aggregate, Codec: ClusterCommandCodec>(
        _ aggregate: A.Type, name: String, commands: Codec
    ) -> ClusterAggregates where Codec.Command == A.Command {
        var copy = self
        copy.byName[name] = RegisteredAggregate(aggregate, name: name, codec: commands)
        copy.names[ObjectIdentifier(aggregate)] = name
        return copy
    }

    /// The name `aggregate` is registered under, or `nil`.
    public func name<A: Aggregate>(of aggregate: A.Type) -> String? {
        names[ObjectIdentifier(aggregate)]
    }

    subscript(name: String) -> RegisteredAggregate? { byName[name] }
}

/// What a node decided for one command.
enum Decision: Sendable {
    /// The command is accepted: its events (type name and payload), the state after them and that state as JSON.
    case accepted(events: [(type: String, schemaVersion: Int, data: Data)], state: any Sendable, stateJSON: Data)
    /// The aggregate rejected the command; nothing is written.
    case rejected(String)
    /// The command could not be decided (its payload does not decode, or its events do not encode).
    case malformed(String)
}

/// One registered aggregate type, its generic functions behind closures so that a node can hold many.
struct RegisteredAggregate: Sendable {
    let name: String
    /// The initial state.
    let initialState: @Sendable () -> any Sendable
    /// Folds stored events over a state of this aggregate.
    let fold: @Sendable (any Sendable, [RecordedEvent]) throws -> any Sendable
    /// Decides an encoded command against a state of this aggregate.
    let decide: @Sendable (Data, any Sendable) -> Decision
    /// Encodes a command of this aggregate (`nil` when the value is not one).
    let encode: @Sendable (any Sendable) throws -> Data?

    init<A: Aggregate, Codec: ClusterCommandCodec>(_ aggregate: A.Type, name: String, codec: Codec)
    where Codec.Command == A.Command {
        self.name = name
        initialState = { A.initialState }
        fold = { state, events in
            guard var state = state as? A.State else {
                throw ClusterError(.commandFailed, message: "a cached state is not a \(name) state")
            }
            for event in events {
                do {
                    state = A.evolve(state, try A.events.decode(event))
                } catch {
                    throw ClusterError(
                        .commandFailed,
                        message: "event \(event.streamVersion) of '\(event.streamID)' (\(event.eventType)) does not "
                            + "decode as a \(name) event: \(error)")
                }
            }
            return state
        }
        decide = { payload, state in
            guard let state = state as? A.State else { return .malformed("the stream does not hold a \(name)") }
            let command: A.Command
            do {
                command = try codec.decode(payload)
            } catch {
                return .malformed("the command does not decode as a \(name) command: \(error)")
            }
            let events: [A.Event]
            do {
                events = try A.decide(command, state)
            } catch {
                return .rejected("\(error)")
            }
            do {
                let encoded = try events.map { try A.events.eventData(for: $0) }
                let next = A.evolve(state, events)
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                return .accepted(
                    events: encoded.map { (type: $0.eventType, schemaVersion: $0.schemaVersion, data: $0.data) },
                    state: next,
                    stateJSON: try encoder.encode(next))
            } catch {
                return .malformed("the events of a \(name) command do not encode: \(error)")
            }
        }
        encode = { command in
            guard let command = command as? A.Command else { return nil }
            return try codec.encode(command)
        }
    }
}
