#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Encodes and decodes an aggregate's commands for the shared inbox, where they wait as bytes until their owner
/// runs them.
///
/// Every node and client of a cluster must encode a command type alike; register the same codec everywhere.
public protocol ClusterCommandCodec<Command>: Sendable {
    /// The command type.
    associatedtype Command: Sendable
    /// The bytes of a command.
    func encode(_ command: Command) throws -> Data
    /// The command of `data`; throws for bytes that are not a command, which the node records as
    /// ``ClusterError/Code/malformedCommand``.
    func decode(_ data: Data) throws -> Command
}

/// A ``ClusterCommandCodec`` for `Codable` commands: JSON with sorted keys.
public struct JSONCommandCodec<Command: Codable & Sendable>: ClusterCommandCodec {
    /// Creates the codec.
    public init() {}

    /// The command as JSON with sorted keys.
    public func encode(_ command: Command) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try encoder.encode(command)
    }

    /// The command of a JSON document.
    public func decode(_ data: Data) throws -> Command {
        try JSONDecoder().decode(Command.self, from: data)
    }
}
