import Whizbang

/// The loans read model: one row per book on loan, keyed by the book's stream id and indexed by the member's, kept
/// by the store in the append's transaction (``ReadModelMode/inline``).
///
/// Query it through `ReadModel(Loans(), in: store)`: the loans of a member with `.indexed("member-ada")`, a shelf of
/// books with a key range such as `.keys(from: "book-a", before: "book-n")`.
struct Loans: ReadModelProjection {
    struct Row: Codable, Sendable, Equatable {
        var member: String
        var due: Int
    }

    let name = "loans"

    func keys(of event: RecordedEvent) throws -> [String] {
        switch try event.decode(as: Book.self) {
        case .lent?, .returned?: [event.streamID.rawValue]
        default: []
        }
    }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        switch try event.decode(as: Book.self) {
        case .lent(let lent)?: Row(member: Member.streamID(lent.member).rawValue, due: lent.due)
        case .returned?: nil
        default: row
        }
    }

    func indexValue(of row: Row) -> String? { row.member }
}
