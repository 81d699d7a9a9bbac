/// Inbox text that does not spell a command of the aggregate it was sent to.
struct MalformedCommandText: Error, CustomStringConvertible {
    /// The text, as received.
    var text: String
    /// What it should have been, such as "an account command".
    var expected: String

    var description: String { "'\(text.prefix(80))' is not \(expected)" }
}
