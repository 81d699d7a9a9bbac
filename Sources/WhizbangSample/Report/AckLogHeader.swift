/// The first line of an ack log, which names the ledger its acknowledgements are of (``LedgerIdentity``):
/// `# whizbang-sample ack log of ledger <identity>`. The run writes it with the log's first acknowledgement, in the
/// same `write(2)`, so that a log holds it exactly when it holds an acknowledgement.
///
/// An ack log that older versions of the sample wrote has no such line: `verify` still reads it (it cannot tell
/// whose it is), and `run` adds to it no more, since it cannot tell whether the ledger it writes is the log's.
/// Older versions take this line for a malformed one: they neither add to such a log nor check it.
enum AckLogHeader {
    /// What the line holds before the identity.
    static let prefix = "# whizbang-sample ack log of ledger "

    /// The line, with its end, for the ledger `identity`.
    static func line(ledger identity: UInt64) -> String {
        "\(prefix)\(identity)\n"
    }

    /// The ledger that `line` (without its end) names; `nil` when it is not the header.
    static func ledger(in line: Substring) -> UInt64? {
        guard line.hasPrefix(prefix) else { return nil }
        let digits = line.dropFirst(prefix.count)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let identity = UInt64(digits), identity > 0
        else { return nil }
        return identity
    }

    /// Whether `text`, a line without its end, may be the start of a header whose write was cut short.
    static func mayBeCut(_ text: Substring) -> Bool {
        !text.isEmpty && (prefix.hasPrefix(text) || ledger(in: text) != nil)
    }
}
