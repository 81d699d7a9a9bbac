import Foundation
import Whizbang

/// What an ack log holds, for `verify`: the ledger its first line names and every complete line's message id and
/// stream id. A torn last line is ignored.
struct AckLogContents {
    /// The ledger the header names (``AckLogHeader``); `nil` for a log without one (empty, or written by an older
    /// version of the sample, which cannot say whose acknowledgements it holds).
    let ledger: UInt64?
    let entries: [(MessageID, StreamID)]

    /// Reads the ack log at `path`.
    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SampleError.cannotRead(path, what: "the ack log")
        }
        var ledger: UInt64?
        var entries: [(MessageID, StreamID)] = []
        // Split as bytes: as a String, "\r\n" is one character, which no "\n" matches, so a file with CRLF line ends
        // read as one torn line, and as no acknowledgements at all. A line's "\r" is dropped.
        let newline = UInt8(ascii: "\n")
        var lines = data.split(separator: newline, omittingEmptySubsequences: false)
        if data.last != newline { lines.removeLast() }
        for (number, lineBytes) in lines.enumerated() {
            let bytes = lineBytes.last == UInt8(ascii: "\r") ? lineBytes.dropLast() : lineBytes
            guard !bytes.isEmpty else { continue }
            let line = String(decoding: bytes, as: UTF8.self)
            if number == 0, let named = AckLogHeader.ledger(in: Substring(line)) {
                ledger = named
                continue
            }
            let fields = line.split(separator: " ", maxSplits: 1)
            guard fields.count == 2, let messageID = MessageID(String(fields[0])) else {
                throw SampleError("the ack log \(path) has a malformed line \(number + 1): \(line)")
            }
            entries.append((messageID, StreamID(String(fields[1]))))
        }
        self.ledger = ledger
        self.entries = entries
    }
}
