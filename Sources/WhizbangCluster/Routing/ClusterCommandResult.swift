#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Whizbang

/// What became of a command sent through the inbox: written by its owner in the same transaction as its events.
public struct ClusterCommandResult: Hashable, Sendable, Codable {
    /// How a command ended.
    public enum Outcome: String, Hashable, Sendable, Codable {
        /// The aggregate accepted it and its events are stored.
        case accepted
        /// The aggregate rejected it (a domain error); nothing was stored.
        case rejected
        /// It could not run: its aggregate type is not registered, its payload does not decode, or its events
        /// could not be stored. ``ClusterCommandResult/reason`` says why; nothing was stored.
        case failed
    }

    /// The command's message id.
    public var messageID: MessageID
    /// How it ended.
    public var outcome: Outcome
    /// The stream's version after the command.
    public var streamVersion: UInt64
    /// How many events it stored.
    public var eventCount: Int
    /// The rejection or failure in words; `nil` when accepted.
    public var reason: String?
    /// The aggregate's state after the command, as JSON; `nil` unless accepted.
    public var state: Data?
    /// The node that ran it.
    public var node: String

    /// Creates a result.
    public init(
        messageID: MessageID, outcome: Outcome, streamVersion: UInt64, eventCount: Int, reason: String?, state: Data?,
        node: String
    ) {
        self.messageID = messageID
        self.outcome = outcome
        self.streamVersion = streamVersion
        self.eventCount = eventCount
        self.reason = reason
        self.state = state
        self.node = node
    }

    /// The ids of the events the command stored, in order: derived from its message id, so that anyone who knows
    /// the command knows its events' ids (a process manager derives its commands' ids from them).
    public var eventIDs: [MessageID] {
        (0..<max(0, eventCount)).map { InboxExecutor.eventID(for: messageID, index: $0) }
    }

    /// The aggregate's state after an accepted command.
    ///
    /// - Throws: ``ClusterError/Code/commandFailed`` when the command was not accepted, or the decoder's error.
    public func decodeState<A: Aggregate>(as aggregate: A.Type) throws -> A.State {
        guard let state else {
            throw ClusterError(.commandFailed, message: "command \(messageID) was \(outcome.rawValue): no state")
        }
        return try JSONDecoder().decode(A.State.self, from: state)
    }

    /// The value of the inbox's `status` column for an outcome: 0 is pending.
    var status: Int16 {
        switch outcome {
        case .accepted: 1
        case .rejected: 2
        case .failed: 3
        }
    }
}
