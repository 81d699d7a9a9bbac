/// Fits a message on one line of output: a store's message may quote a multi-line SQL statement.
enum OneLine {
    /// `message` with every run of whitespace, line breaks included, turned into one space.
    static func text(_ message: String) -> String {
        message.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}
