import Whizbang

/// The overdue-notice process manager: for each closed day, one notice per overdue loan, sent to the member.
///
/// Each command's id is derived from the event and the book (`MessageID(derivedFrom:step:)`), so a redelivered
/// day sends the same commands under the same ids, and the member records a notice once.
struct OverdueNotices<Store: EventStore>: ProcessManager {
    let name = "overdue-notices"
    let members: AggregateHandler<Member, Store>

    func handle(_ event: RecordedEvent, cause: EnvelopeMetadata) async throws {
        guard case .closed(let closed)? = try event.decode(as: Desk.self) else { return }
        for loan in closed.overdue {
            let command = MessageEnvelope(
                message: Member.Command.sendOverdueNotice(book: loan.book, day: closed.day), causedBy: cause,
                messageID: Self.commandID(event: event.eventID, book: loan.book), streamID: StreamID(loan.member))
            _ = try await members.send(command)
        }
    }

    /// The id of the notice for `book` caused by the day-closed event `event`.
    static func commandID(event: MessageID, book: String) -> MessageID {
        MessageID(derivedFrom: event, step: "notice:\(book)")
    }
}
