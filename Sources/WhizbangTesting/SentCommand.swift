public import Whizbang

/// A command a process manager sent, as the events it recorded show it.
///
/// Every event a command records carries the command's envelope, so the events appended during a
/// ``ProcessManagerScenario`` tell which commands were sent, to which stream, under which identifier and caused by
/// which event. A command that recorded nothing (a repeat the aggregate recognised, or a rejection) leaves no trace.
public struct SentCommand: Hashable, Sendable, CustomStringConvertible {
    /// The command's message id.
    public let id: MessageID
    /// The stream the command was sent to.
    public let streamID: StreamID
    /// The id of the message that caused the command: for a process manager, the event it reacted to.
    public let causationID: MessageID?
    /// The conversation the command belongs to.
    public let correlationID: MessageID
    /// The events the command recorded, in order.
    public let events: [RecordedEvent]

    /// Creates a sent command; ``ProcessManagerScenario`` makes these from the log.
    public init(
        id: MessageID, streamID: StreamID, causationID: MessageID?, correlationID: MessageID, events: [RecordedEvent]
    ) {
        self.id = id
        self.streamID = streamID
        self.causationID = causationID
        self.correlationID = correlationID
        self.events = events
    }

    /// The command's id, stream, cause and the type names of its events.
    public var description: String {
        let cause = causationID.map { "caused by \($0)" } ?? "without a cause"
        return "command \(id) to '\(streamID)', \(cause), recorded \(events.map(\.eventType))"
    }

    /// Groups events into the commands that recorded them: consecutive events of one stream with the same command
    /// envelope. Events without an envelope are left out.
    static func commands(in events: [RecordedEvent]) -> [SentCommand] {
        var commands: [SentCommand] = []
        var current: (envelope: EnvelopeMetadata, events: [RecordedEvent])?
        func close() {
            guard let (envelope, events) = current else { return }
            commands.append(
                SentCommand(
                    id: envelope.messageID, streamID: events[0].streamID, causationID: envelope.causationID,
                    correlationID: envelope.correlationID, events: events))
            current = nil
        }
        for event in events {
            guard let envelope = try? event.commandEnvelope() else {
                close()
                continue
            }
            if let open = current, open.envelope.messageID == envelope.messageID,
                open.events[0].streamID == event.streamID
            {
                current?.events.append(event)
            } else {
                close()
                current = (envelope, [event])
            }
        }
        close()
        return commands
    }
}

/// A command a test expects a process manager to send: its stream, the events it records and, optionally, its id
/// and its cause.
public struct ExpectedCommand: Sendable, CustomStringConvertible {
    /// The stream the command is sent to.
    public let streamID: StreamID
    /// The command's message id, or `nil` to accept any.
    public let id: MessageID?
    /// The id of the message that causes it, or `nil` to accept any.
    public let causationID: MessageID?
    /// The expected events, described for failure messages.
    public let description: String
    private let matchesEvents: @Sendable ([RecordedEvent]) -> Bool

    /// Expects a command to the aggregate `A` with stream `streamID` that records `events`.
    ///
    /// - Parameters:
    ///   - aggregate: the aggregate whose registry decodes the recorded events.
    ///   - streamID: the stream the command is sent to.
    ///   - id: the command's message id, such as one made with `MessageID/init(derivedFrom:step:)`;
    ///     `nil`, the default, accepts any.
    ///   - cause: the id of the event the command reacts to; `nil`, the default, accepts any.
    ///   - events: the events the command records, in order.
    public init<A: Aggregate>(
        _ aggregate: A.Type,
        to streamID: StreamID,
        id: MessageID? = nil,
        causedBy cause: MessageID? = nil,
        recording events: [A.Event]
    ) where A.Event: Equatable {
        self.streamID = streamID
        self.id = id
        self.causationID = cause
        let idText = id.map { " \($0)" } ?? ""
        let causeText = cause.map { ", caused by \($0)" } ?? ""
        self.description = "command\(idText) to '\(streamID)'\(causeText), recording \(events)"
        self.matchesEvents = { recorded in
            let decoded = recorded.map { try? A.events.decode($0) }
            return decoded.count == events.count && zip(decoded, events).allSatisfy { $0 == $1 }
        }
    }

    /// Whether `command` is the one expected.
    public func matches(_ command: SentCommand) -> Bool {
        command.streamID == streamID && (id == nil || command.id == id)
            && (causationID == nil || command.causationID == causationID) && matchesEvents(command.events)
    }
}
